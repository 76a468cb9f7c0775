"""The generators that ship inside ganforge: ``pretrained:NAME`` wherever a run folder is accepted, offline;
and, when real MNIST is at hand to train the classifier that judges them, that they are as good as their
model cards say."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.metrics import paths as metric_paths
from ganforge.run import shipped_names
from ganforge.run.shipped import SHIPPED_DIR

NAMES = ["fashion-mnist-cond", "mnist", "mnist-cond"]
CONDITIONAL = ["fashion-mnist-cond", "mnist-cond"]
USER_CACHE = metric_paths.cache_root()  # read before the tests' own empty caches are set: a trained classifier


def test_the_three_generators_ship_and_are_small():
    assert shipped_names() == NAMES
    total = sum(p.stat().st_size for p in SHIPPED_DIR.rglob("*") if p.is_file())
    assert total < 6 * 2**20, total  # a few MB in all
    for name in NAMES:
        folder = SHIPPED_DIR / name
        assert {"config.json", "model.safetensors", "README.md", "samples.png", "pretrained.json"} <= {
            p.name for p in folder.iterdir()}
        assert (folder / "model.safetensors").stat().st_size < 3 * 2**20
        info = json.loads((folder / "pretrained.json").read_text())
        assert info["name"] == f"pretrained:{name}" and info["command"].startswith("ganforge train ")
        assert info["budget"]["steps"] > 0 and info["metrics"]["confident"] > 0
        card = (folder / "README.md").read_text()
        assert info["command"] in card and "## Measured" in card


@pytest.mark.parametrize("name", NAMES)
def test_each_loads_offline_and_samples_the_same_images_for_a_seed(name):
    assert os.environ["GANFORGE_OFFLINE"] == "1"
    run = ganforge.load_run(f"pretrained:{name}", device="cpu")
    a, b, c = run.generate(8, seed=3), run.generate(8, seed=3), run.generate(8, seed=4)
    assert a.shape == (8, 1, 28, 28) and a.dtype == torch.uint8
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert run.shipped == f"pretrained:{name}" and run.name == f"pretrained:{name}"
    assert run.outputs_dir == Path(f"pretrained-{name}")  # never the package folder
    assert (run.num_classes == 10) == (name in CONDITIONAL)
    if name == "mnist":  # unconditional, though self-conditioned on clusters: it takes no class, only a latent
        assert run.num_classes is None and run.z_dim == run.config.z_dim + 1 == 65 and run.config.clusters == 50


@pytest.mark.parametrize("name", CONDITIONAL)
def test_class_7_from_the_command_line(name, tmp_path):
    out = tmp_path / "sevens.png"
    assert main(["sample", f"pretrained:{name}", "--class", "7", "--n", "9", "--out", str(out), "--device", "cpu"]) == 0
    run = ganforge.load_run(f"pretrained:{name}", device="cpu")
    sevens = run.generate(9, seed=0, labels=torch.full((9,), 7))
    assert np.asarray(Image.open(out)).shape == (2 + 3 * 30, 2 + 3 * 30)
    assert np.array_equal(np.asarray(Image.open(out))[2:30, 2:30], sevens[0, 0].numpy())


def test_an_unknown_name_is_one_line_listing_the_names(capsys):
    assert main(["sample", "pretrained:nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pretrained:nope" in err
    assert all(f"pretrained:{n}" in err for n in NAMES)
    with pytest.raises(GanforgeError, match="pretrained:mnist-cond"):
        ganforge.load_run("pretrained:MNIST")
    with pytest.raises(GanforgeError, match="one generator"):
        ganforge.load_run("pretrained:mnist", checkpoint="best")


def test_commands_write_beside_the_current_folder_not_into_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in (SHIPPED_DIR / "mnist").iterdir())
    assert main(["sample", "pretrained:mnist", "--n", "4", "--device", "cpu"]) == 0
    assert (tmp_path / "pretrained-mnist" / "samples" / "seed-0-n-4.png").is_file()
    assert main(["report", "pretrained:mnist"]) == 0
    page = (tmp_path / "pretrained-mnist" / "report.html").read_text()
    info = json.loads((SHIPPED_DIR / "mnist" / "pretrained.json").read_text())
    assert "How it was made" in page and info["preset"] in page and "confident" in page
    assert "unconditional, self-conditioned on 50 clusters" in page
    assert main(["export", "pretrained:mnist-cond", "--format", "pretrained"]) == 0
    again = ganforge.load_run(tmp_path / "pretrained-mnist-cond" / "export" / "pretrained", device="cpu")
    assert torch.equal(again.generate(4, seed=1), ganforge.load_run("pretrained:mnist-cond").generate(4, seed=1))
    assert sorted(p.name for p in (SHIPPED_DIR / "mnist").iterdir()) == before


def test_a_pretrained_folder_gets_a_report_too(tmp_path):
    folder = ganforge.load_run("pretrained:mnist").save_pretrained(tmp_path / "mine")
    assert main(["report", str(folder), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "ganforge generator mine" in page and "not recorded" in page and "<img" in page


# ---- quality, judged by the MNIST classifier (trained on demand from real MNIST: minutes, once) ------------------

@pytest.fixture(scope="module")
def digits_classifier(tmp_path_factory):
    from ganforge.metrics.evaluator import get_evaluator, load_evaluator

    data = Path(os.environ.get("GANFORGE_TEST_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared"
                               / "data"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANFORGE_CACHE_DIR", str(USER_CACHE))  # one trained before is used as it is (read only)
        found = load_evaluator("mnist")
    if found is not None:
        return found
    if not (data / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no MNIST classifier, and no real MNIST at {data} to train one")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("evaluator-cache")))
        return get_evaluator("mnist", data_dir=data, device="cpu", log=print, progress=False)


def test_pretrained_mnist_reads_as_digits_of_every_class(digits_classifier):
    images = ganforge.load_run("pretrained:mnist", device="cpu").generate(2000, seed=0)
    logprobs = digits_classifier(images)["logprobs"]
    confident = float((logprobs.max(1).values > np.log(0.9)).double().mean())
    counts = torch.bincount(logprobs.argmax(1), minlength=10)
    print(f"\npretrained:mnist: {confident:.1%} confident; classes {counts.tolist()}")
    assert confident >= 0.85  # 94.8% of 10,000 when it was packaged
    assert (counts >= 0.05 * len(images)).all()  # every digit, none starved


def test_pretrained_mnist_cond_draws_sevens(digits_classifier):  # 99.5% of these 1,000 when packaged
    run = ganforge.load_run("pretrained:mnist-cond", device="cpu")
    sevens = run.generate(1000, seed=0, labels=torch.full((1000,), 7))
    accuracy = float((digits_classifier(sevens)["logprobs"].argmax(1) == 7).double().mean())
    print(f"\npretrained:mnist-cond --class 7: {accuracy:.1%} read as sevens")
    assert accuracy >= 0.95


def test_generator_from_pretrained_takes_the_name_too():
    g = ganforge.Generator.from_pretrained("pretrained:mnist-cond")
    assert g.shipped == "pretrained:mnist-cond" and g.num_classes == 10
