"""The ganforge command: listing, training, sampling, and one-line errors for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    rc = main(["train", "--dataset", "mnist-sample", "--steps", "4", "--batch-size", "16", "--out", str(out),
               "--no-progress", "--log-every", "2"])
    assert rc == 0
    return out


def test_presets_and_datasets_list_one_line_each(capsys):
    from ganforge import PRESETS
    from ganforge.presets import preset_names

    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = lines[1:lines.index("")]  # a header, one line per preset, then the notes after a blank line
    assert [ln.split()[0] for ln in rows] == preset_names() and sorted(preset_names()) == sorted(PRESETS)
    assert main(["datasets"]) == 0
    names = [ln.split()[0] for ln in capsys.readouterr().out.strip().splitlines()]
    for name in ("mnist", "fashion-mnist", "mnist-sample", "folder:PATH"):
        assert name in names


def test_train_writes_a_run_and_prints_where(trained_run):
    assert (trained_run / "config.json").is_file()
    assert (trained_run / "final_grid.png").is_file()
    assert (trained_run / "checkpoints" / "last.safetensors").is_file()


def test_sample_grid(trained_run, tmp_path):
    out = tmp_path / "g.png"
    assert main(["sample", str(trained_run), "--n", "16", "--out", str(out)]) == 0
    img = Image.open(out)
    assert img.mode == "L" and img.size == (4 * 28 + 5 * 2,) * 2


def test_sample_png_files_and_npz(trained_run, tmp_path):
    assert main(["sample", str(trained_run), "--n", "3", "--out", str(tmp_path / "each"), "--format", "png"]) == 0
    files = sorted((tmp_path / "each").iterdir())
    assert len(files) == 3 and Image.open(files[0]).size == (28, 28)
    assert main(["sample", str(trained_run), "--n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    arr = np.load(tmp_path / "s.npz")["images"]
    assert arr.shape == (5, 28, 28, 1) and arr.dtype == np.uint8
    # same seed, same images; another seed, other images
    assert main(["sample", str(trained_run), "--n", "5", "--out", str(tmp_path / "t.npz")]) == 0
    assert np.array_equal(arr, np.load(tmp_path / "t.npz")["images"])
    assert main(["sample", str(trained_run), "--n", "5", "--seed", "1", "--out", str(tmp_path / "u.npz")]) == 0
    assert not np.array_equal(arr, np.load(tmp_path / "u.npz")["images"])


def test_resume_refuses_changed_settings(trained_run, capsys):
    assert main(["train", "--resume", str(trained_run), "--steps", "8", "--batch-size", "32"]) == 2
    err = capsys.readouterr().err
    assert "--batch-size" in err and err.count("\n") == 1


def test_resume_can_add_a_decay_tail(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-sample", "--steps", "2", "--batch-size", "8", "--width", "4",
                 "--out", str(out), "--no-progress"]) == 0
    assert main(["train", "--resume", str(out), "--steps", "3", "--lr-schedule", "linear", "--lr-decay-steps", "2",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "would start at step 1, before step 2" in err and err.count("\n") == 1
    assert main(["train", "--resume", str(out), "--steps", "4", "--lr-schedule", "cosine", "--lr-decay-steps", "2",
                 "--no-progress"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["steps"], cfg["lr_schedule"], cfg["lr_decay_steps"]) == (4, "cosine", 2)


@pytest.mark.parametrize("args,needle", [
    (["train", "--preset", "nope"], "unknown preset 'nope'; choose one of:"),
    (["train", "--dataset", "nope", "--steps", "1"], "unknown dataset 'nope'"),
    (["train", "--dataset", "folder:/definitely/missing", "--steps", "1"], "/definitely/missing"),
    (["sample", "/definitely/missing"], "does not exist"),
    (["train", "--resume", "/definitely/missing", "--steps", "3"], "does not exist"),
])
def test_bad_input_is_one_line_without_traceback(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_not_a_run_and_empty_folder(tmp_path, capsys):
    assert main(["sample", str(tmp_path)]) == 2
    assert "not a ganforge run folder" in capsys.readouterr().err
    (tmp_path / "imgs").mkdir()
    assert main(["train", "--dataset", f"folder:{tmp_path / 'imgs'}", "--steps", "1"]) == 2
    assert "imgs" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--batch-size", "--steps"])
@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_non_positive_counts_exit_2(flag, value):
    r = run_cli("train", flag, value)
    assert r.returncode == 2
    assert "must be a positive integer" in r.stderr and "Traceback" not in r.stderr


def test_default_train_falls_back_to_the_shipped_sample_in_one_line(tmp_path, capsys):
    # No --dataset: mnist; with no copy and no network ganforge says so once and uses mnist-sample.
    out = tmp_path / "run"
    assert main(["train", "--steps", "1", "--batch-size", "8", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    notes = [ln for ln in text.splitlines() if "mnist-sample" in ln and "GANFORGE_DATA_DIR" in ln]
    assert len(notes) == 1
    assert json.loads((out / "config.json").read_text())["dataset"] == "mnist-sample"


def test_train_reads_a_config_file_and_flags_win(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: mlp-adam\ndataset: mnist-sample\nsteps: 2\nbatch_size: 8\nlr_g: 0.001\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--lr-g", "0.003", "--out", str(out), "--no-progress"]) == 0
    written = json.loads((out / "config.json").read_text())
    assert written["preset"] == "mlp-adam" and written["lr_g"] == 0.003 and written["batch_size"] == 8


def test_width_flag_sets_the_lean_dcgan_width_and_is_refused_where_it_means_nothing(tmp_path, capsys):
    from ganforge.run import load_run

    out = tmp_path / "run"
    assert main(["train", "--preset", "dcgan-28-fast", "--dataset", "mnist-sample", "--steps", "1", "--batch-size",
                 "8", "--width", "6", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["extra"]["width"] == 6
    # The generator built from the run has the asked width: its first layer makes 7 * 7 * 2 * 6 features.
    first = next(m for m in load_run(out).generator.modules() if isinstance(m, torch.nn.Linear))
    assert first.out_features == 7 * 7 * 2 * 6
    capsys.readouterr()
    assert main(["train", "--preset", "dcgan-28", "--dataset", "mnist-sample", "--steps", "1", "--width", "64"]) == 2
    err = capsys.readouterr().err
    assert "preset 'dcgan-28' has no option 'width'" in err and err.count("\n") == 1
    assert main(["train", "--resume", str(out), "--steps", "2", "--width", "8"]) == 2
    assert "--width" in capsys.readouterr().err


# ---- class-conditional runs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-cond") / "run"
    rc = main(["train", "--preset", "dcgan-28-cond", "--dataset", "mnist-sample", "--steps", "2", "--batch-size",
               "16", "--out", str(out), "--no-progress", "--log-every", "1"])
    assert rc == 0
    return out


@pytest.fixture
def g_labels(monkeypatch):
    """The labels every sampling call hands to the loaded generator."""
    import ganforge.run

    seen, real_load = [], ganforge.run.load_run

    def load(*args, **kw):
        run = real_load(*args, **kw)
        run.generator.register_forward_hook(lambda m, a, res: seen.append(a[1].clone()))
        return run

    monkeypatch.setattr(ganforge.run, "load_run", load)
    return seen


def test_conditional_flag_and_preset_write_the_classes(conditional_run, tmp_path):
    cfg = json.loads((conditional_run / "config.json").read_text())
    assert cfg["preset"] == "dcgan-28-cond" and cfg["conditional"] is True and cfg["num_classes"] == 10
    out = tmp_path / "run"
    assert main(["train", "--conditional", "--dataset", "mnist-sample", "--steps", "1", "--batch-size", "8",
                 "--out", str(out), "--no-progress"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["preset"] == "dcgan-28-fast" and cfg["conditional"] is True


def test_sample_class_7_asks_g_for_class_7_only(conditional_run, tmp_path, g_labels):
    out = tmp_path / "sevens.png"
    assert main(["sample", str(conditional_run), "--class", "7", "--n", "9", "--out", str(out)]) == 0
    assert torch.equal(torch.cat(g_labels), torch.full((9,), 7))
    assert Image.open(out).size == (3 * 28 + 4 * 2,) * 2
    assert main(["sample", str(conditional_run), "--class", "7", "--n", "4", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["labels"].tolist() == [7, 7, 7, 7]


def test_sample_per_class_is_one_row_per_class(conditional_run, tmp_path, g_labels):
    out = tmp_path / "rows.png"
    assert main(["sample", str(conditional_run), "--per-class", "3", "--out", str(out)]) == 0
    assert torch.equal(torch.cat(g_labels), torch.arange(10).repeat_interleave(3))
    assert Image.open(out).size == (3 * 28 + 4 * 2, 10 * 28 + 11 * 2)  # 3 columns, 10 rows


@pytest.mark.parametrize("args,needle", [
    (["--class", "7"], "--class: run '{run}' is unconditional"),
    (["--per-class", "2"], "--per-class: run '{run}' is unconditional"),
], ids=["class", "per-class"])
def test_class_options_on_an_unconditional_run_are_refused(trained_run, args, needle, capsys):
    assert main(["sample", str(trained_run), *args]) == 2
    err = capsys.readouterr().err
    assert needle.format(run=trained_run) in err and err.count("\n") == 1


@pytest.mark.parametrize("args,needle", [
    (["--class", "10"], "unknown class '10'; give an index from 0 to 9"),
    (["--class", "seven"], "unknown class 'seven'"),
    (["--per-class", "2", "--n", "5"], "give --n or --per-class, not both"),
])
def test_bad_class_requests_are_one_line(conditional_run, args, needle, capsys):
    assert main(["sample", str(conditional_run), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_conditional_preset_on_unlabelled_images_is_refused(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / f"{i}.png")
    assert main(["train", "--preset", "dcgan-28-cond", "--dataset", f"folder:{tmp_path / 'imgs'}",
                 "--batch-size", "2", "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert "needs class labels" in capsys.readouterr().err
