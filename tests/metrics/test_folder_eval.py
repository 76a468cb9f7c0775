"""`ganforge eval` of a run trained on a folder of the user's own images: Inception metrics against the folder."""

import json
import os
import shutil

import pytest
import torch
from metrics_helpers import FakeInception, draw_shapes, quiet, shared_inception_weights
from PIL import Image

from ganforge.data import user_cache_dir
from ganforge.errors import GanforgeError
from ganforge.metrics import evaluate_run
from ganforge.metrics import inception as inc
from ganforge.metrics.realdata import RESIZE, cache_name

COUNT = 30  # images in the folder: 10 of each shape


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A 2-step dcgan-28-stacked run (3 x 28 x 28, width 8) on the shapes folder."""
    from ganforge import TrainConfig, Trainer

    root = draw_shapes(tmp_path_factory.mktemp("shapes"), count=COUNT)
    out = tmp_path_factory.mktemp("folder-run") / "run"
    with pytest.MonkeyPatch.context() as mp:  # the autouse isolation is function-scoped
        mp.setenv("GANFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("folder-cache")))
        Trainer(TrainConfig(preset="dcgan-28-stacked", dataset=f"folder:{root}", steps=2, batch_size=8,
                            extra={"width": 8}, out=str(out), progress=False), log=quiet).train()
    return root, out


@pytest.fixture
def stand_in_inception(tmp_path, monkeypatch):
    path = tmp_path / inc.WEIGHTS_FILENAME
    path.write_bytes(b"stand-in")
    weights = inc.InceptionWeights(path=path, sha256="ab" * 32, has_logits=False, source="test")
    monkeypatch.setenv(inc.WEIGHTS_ENV, str(path))
    monkeypatch.setattr(inc, "inspect_weights", lambda p, source="file": weights)
    monkeypatch.setattr(inc, "InceptionExtractor", FakeInception)
    FakeInception.calls = 0
    return weights


def noise(n, seed, labels, shape=(3, 28, 28)):
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_a_folder_run_gets_fid_kid_pr_against_every_image_of_the_folder(folder_run):
    weights = shared_inception_weights()
    if weights is None:
        pytest.skip("no Inception weights file (GANFORGE_INCEPTION_WEIGHTS or shared/data/weights)")
    from ganforge.run import load_run

    root, run_dir = folder_run
    lines = []
    entries = evaluate_run(load_run(run_dir), None, n=32, inception_weights=weights, log=lines.append,
                           progress=False)  # the default metric set
    has_logits = inc.inspect_weights(weights).has_logits
    assert list(entries) == ["fid", "kid", "pr"] + (["is"] if has_logits else [])
    saved = json.loads((run_dir / "metrics.json").read_text())
    fid = saved["fid"]
    assert fid["n"] == 32 and fid["n_real"] == COUNT  # all of the folder, as it holds fewer than n
    protocol = fid["protocol"]
    assert (protocol["real"], protocol["split"], protocol["n_real"]) == (f"folder:{root}", "train", COUNT)
    assert protocol["weights_sha256"] == inc.inspect_weights(weights).sha256
    assert protocol["resize_generated"].startswith("28x28 RGB -> 299x299 RGB: torch-fidelity's TF1-style")
    assert protocol["resize_real"] == ("image files decoded as RGB (transparency over white), shorter side resized "
                                       "to 28 (bilinear, antialiased), centre-cropped to 28x28; then "
                                       + protocol["resize_generated"])
    assert fid["fid"] > 0 and 0 <= saved["pr"]["precision"] <= 1
    line = next(line for line in lines if line.startswith("protocol: "))
    assert line.startswith(f"protocol: 32 samples (seed 0) vs {COUNT} folder:{root} train images; Inception-v3")
    # The real features are cached under the folder's content hash, the run's shape and the resize.
    stats = [p.name for p in (user_cache_dir() / "stats").iterdir()]
    assert any(s.startswith(f"{cache_name(f'folder:{root}')}-train-3x28x28-n32-inception-v3-tf-2048-")
               and s.endswith(f"-{RESIZE}.safetensors") for s in stats), stats


def test_a_folder_run_without_inception_weights_is_one_line_naming_the_flag(fake_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(inc.WEIGHTS_ENV, raising=False)
    root = draw_shapes(tmp_path / "shapes", count=6)
    run = fake_run(noise, dataset=f"folder:{root}", shape=(3, 28, 28))
    with pytest.raises(GanforgeError) as e:
        evaluate_run(run, None, n=8, log=quiet, progress=False)
    message = str(e.value)
    assert "\n" not in message and "--inception-weights" in message and f"folder:{root}" in message
    assert "fid, kid" in message
    assert run.calls == []  # refused before sampling anything


def test_folder_features_are_cached_by_content_and_by_what_changes_the_real_images(stand_in_inception, fake_run,
                                                                                    tmp_path):
    root = draw_shapes(tmp_path / "shapes", count=COUNT)

    def evaluate(folder, shape=(3, 28, 28)):
        FakeInception.calls = 0
        run = fake_run(lambda n, seed, labels: noise(n, seed, labels, shape), dataset=f"folder:{folder}", shape=shape)
        out = evaluate_run(run, ["fid"], n=20, log=quiet, progress=False)["fid"]
        return FakeInception.calls - 20, out  # real images extracted (the 20 generated ones always are)

    real, first = evaluate(root)
    assert real == 20 and first["n_real"] == 20  # a fixed subset when the folder holds more than n
    assert evaluate(root)[0] == 0
    for file in root.rglob("*.png"):  # touching files changes no pixel
        os.utime(file, (1, 1))
    (root / "notes.txt").write_text("not an image")
    assert evaluate(root)[0] == 0
    copy = tmp_path / "elsewhere"
    shutil.copytree(root, copy)
    real, moved = evaluate(copy)
    assert real == 0 and moved["fid"] == pytest.approx(first["fid"])  # same content, same features
    assert cache_name(f"folder:{copy}") == cache_name(f"folder:{root}")

    # Another resolution or channel count changes the real images: new features, another cache file.
    assert evaluate(root, shape=(1, 28, 28))[0] == 20
    files = sorted(p.name for p in (user_cache_dir() / "stats").iterdir())
    assert len(files) == 2 and all(f.endswith(f"-{RESIZE}.safetensors") for f in files)
    assert {f.split("-train-")[1].split("-")[0] for f in files} == {"3x28x28", "1x28x28"}

    # So does an edited picture.
    Image.new("RGB", (32, 32), (0, 0, 0)).save(root / "circles" / "00.png")
    assert cache_name(f"folder:{root}") != cache_name(f"folder:{copy}")
    assert evaluate(root)[0] == 20
