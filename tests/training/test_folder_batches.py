"""Batches of a folder: mirrored copies at i >= N, the same batches streamed from disk as from memory, and
exact resumes on both paths."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from ganforge import TrainConfig, Trainer, load_run
from ganforge.data import StreamingDataset, load_dataset
from ganforge.training.sampler import BatchSampler, StreamingSampler, make_sampler
from helpers import shapes_folder

CPU = torch.device("cpu")


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """40 colour images in two classes, 32x32 (cropped to 28 for the 28 px colour preset)."""
    return shapes_folder(tmp_path_factory.mktemp("shapes") / "imgs", 40, (32, 32), classes=("disc", "rect"))


def both(folder: Path, monkeypatch, size: int = 16):
    """The folder in memory and as a stream (a budget of a few bytes forces it)."""
    memory = load_dataset(f"folder:{folder}", channels=3, size=size, log=quiet)
    monkeypatch.setenv("GANFORGE_MEMORY_BUDGET_MB", "0.0001")
    stream = load_dataset(f"folder:{folder}", channels=3, size=size, streaming=True, log=quiet)
    monkeypatch.delenv("GANFORGE_MEMORY_BUDGET_MB")
    assert isinstance(stream, StreamingDataset) and not isinstance(memory, StreamingDataset)
    return memory, stream


def test_mirror_adds_the_flipped_images_at_i_from_n():
    n = 6
    images = torch.arange(n * 2 * 3, dtype=torch.uint8).view(n, 1, 2, 3).contiguous()  # no image is its own mirror
    labels = torch.arange(n)
    sampler = BatchSampler(images, 4, seed=5, labels=labels, mirror=True)
    assert sampler.per_epoch == 3  # 12 images an epoch
    seen = []
    for i in range(3):
        x, y = sampler.labelled_batch(i)
        pixels = ((x + 1) * 127.5).round().to(torch.uint8)
        for img, label in zip(pixels, y.tolist()):
            assert torch.equal(img, images[label]) or torch.equal(img, images[label].flip(-1))
            seen.append((label, torch.equal(img, images[label])))
        positions = sampler.order.positions(i)
        for img, pos in zip(pixels, positions.tolist()):  # index i >= N is image i - N, flipped
            assert torch.equal(img, images[pos - n].flip(-1) if pos >= n else images[pos])
    assert sorted(seen) == sorted((k, flag) for k in range(n) for flag in (False, True))  # each once each way
    plain = BatchSampler(images, 4, seed=5)
    assert plain.per_epoch == 1 and torch.equal(plain.order.positions(0), torch.randperm(
        n, generator=torch.Generator().manual_seed(5 * 1_000_003))[:4])  # without mirror: the order of old


@pytest.mark.parametrize("mirror", [False, True])
def test_streamed_batches_are_the_in_memory_ones(folder, monkeypatch, mirror):
    memory, stream = both(folder, monkeypatch)
    a = make_sampler(memory, 12, 7, device=CPU, labelled=True, mirror=mirror)
    b = make_sampler(stream, 12, 7, device=CPU, labelled=True, mirror=mirror)
    assert isinstance(a, BatchSampler) and isinstance(b, StreamingSampler) and b.workers >= 2
    assert a.per_epoch == b.per_epoch == (80 if mirror else 40) // 12
    try:
        for i in range(a.per_epoch + 3):  # across an epoch boundary
            xa, ya = a.labelled_batch(i)
            xb, yb = b.labelled_batch(i)
            assert torch.equal(xa, xb) and torch.equal(ya, yb), i
        # out of order (a resume): the workers restart there
        assert torch.equal(a.labelled_batch(2)[0], b.labelled_batch(2)[0])
        assert torch.equal(a.labelled_batch(3)[0], b.labelled_batch(3)[0])
    finally:
        b.close()
    assert multiprocessing.active_children() == []


def test_each_process_streams_its_own_slice(folder, monkeypatch):
    memory, stream = both(folder, monkeypatch)
    for rank in (0, 1):
        a = make_sampler(memory, 8, 1, device=CPU, labelled=False, rank=rank, world=2, mirror=True)
        b = StreamingSampler(stream, 8, 1, device=CPU, labelled=False, rank=rank, world=2, mirror=True, workers=0)
        for i in (0, 1, 9, 10):
            assert torch.equal(a.batch(i), b.batch(i))


# ---- training runs -------------------------------------------------------------------------------------------

def config(folder: Path, out: Path, **kw) -> TrainConfig:
    base = {"preset": "dcgan-28-stacked", "dataset": f"folder:{folder}", "batch_size": 8, "extra": {"width": 8},
            "log_every": 2, "grid_every": 1000, "progress": False, "out": str(out)}
    return TrainConfig(**{**base, **kw})


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(run_dir / "checkpoints" / "last.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if not k.startswith("rng/")}


def same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_a_mirrored_run_resumes_exactly_and_records_its_data_options(folder, tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    Trainer(config(folder, full, steps=6, mirror=True, fit="resize"), log=quiet).train()
    Trainer(config(folder, split, steps=3, mirror=True, fit="resize"), log=quiet).train()
    Trainer.resume(split, steps=6, log=quiet).train()
    same_weights(full, split)
    cfg = json.loads((full / "config.json").read_text())
    assert (cfg["mirror"], cfg["fit"], cfg["channels"], cfg["resolution"]) == (True, "resize", 3, 28)
    assert load_run(full).config.mirror is True


def test_an_epoch_of_a_mirrored_run_is_twice_the_images(folder, tmp_path):
    t = Trainer(config(folder, tmp_path / "r", epochs=1, mirror=True), log=quiet)
    assert t.cfg.steps == 80 // 8 and t.sampler.per_epoch == 10


def test_a_streamed_run_trains_what_an_in_memory_one_does_and_resumes_exactly(folder, tmp_path, monkeypatch):
    memory, full, split = tmp_path / "memory", tmp_path / "full", tmp_path / "split"
    Trainer(config(folder, memory, steps=7, mirror=True), log=quiet).train()  # 10 batches an epoch
    monkeypatch.setenv("GANFORGE_MEMORY_BUDGET_MB", "0.0001")
    lines: list[str] = []
    t = Trainer(config(folder, full, steps=7, mirror=True), log=lines.append)
    assert isinstance(t.sampler, StreamingSampler)
    assert any("streaming them from disk through worker processes" in line for line in lines)
    t.train()
    assert multiprocessing.active_children() == []  # the workers ended with the loop
    Trainer(config(folder, split, steps=3, mirror=True), log=quiet).train()
    Trainer.resume(split, steps=7, log=quiet).train()
    same_weights(memory, full)
    same_weights(full, split)


def test_sigterm_stops_a_streamed_run_cleanly_and_it_resumes(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_MEMORY_BUDGET_MB", "0.0001")
    out = tmp_path / "run"
    t = Trainer(config(folder, out, steps=10_000, checkpoint_every=10_000, grid_every=10_000), log=quiet)
    real_step = t.train_step

    def step_then_signal():
        stats = real_step()
        if t.step == 2:
            workers = multiprocessing.active_children()
            assert len(workers) == t.sampler.workers
            # as a job scheduler does: the whole process group, workers included
            for p in workers:
                os.kill(p.pid, signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
        return stats

    t.train_step = step_then_signal
    with pytest.raises(KeyboardInterrupt):
        t.train()
    assert multiprocessing.active_children() == []
    assert load_run(out).step == 3
    Trainer.resume(out, steps=5, log=quiet).train()
    assert load_run(out).step == 5


def test_a_colour_folder_without_a_preset_trains_a_colour_preset(tmp_path, monkeypatch):
    from helpers import colour_presets

    presets = colour_presets(monkeypatch)
    shapes_folder(tmp_path / "imgs", 16, (30, 30))
    lines: list[str] = []
    t = Trainer(TrainConfig(dataset=f"folder:{tmp_path / 'imgs'}", steps=1, batch_size=8, progress=False,
                            out=str(tmp_path / "run")), log=lines.append)
    assert (t.cfg.preset, t.cfg.channels, t.cfg.resolution) == (presets[32], 3, 32)
    assert lines[0].startswith(f"folder:{tmp_path / 'imgs'} holds 16 colour images of about 30x30: training "
                               f"{presets[32]} (32x32 RGB)")
    assert lines[1].startswith("decoded 16 images in ")


def test_datasets_describes_the_folder_form_and_its_options(capsys):
    from ganforge.cli import main

    assert main(["datasets"]) == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("folder:PATH")]
    for words in ("first-level sub-folders become classes", "--resolution", "--channels", "--fit crop|resize",
                  "--mirror", "cached", "streamed"):
        assert words in line, words


def test_the_data_options_are_train_flags_and_old_configs_read_as_before():
    from ganforge.cli import build_parser
    from ganforge.run.migrate import LAYOUT_1_NULLS

    args = build_parser().parse_args(["train", "--fit", "resize", "--mirror"])
    assert (args.fit, args.mirror) == ("resize", True)
    assert build_parser().parse_args(["train", "--no-mirror"]).mirror is False
    assert (LAYOUT_1_NULLS["fit"], LAYOUT_1_NULLS["mirror"]) == ("crop", False)
