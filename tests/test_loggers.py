"""Training loggers: TensorBoard event files hold the losses, eval metrics and the fixed-noise grid."""

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganforge import GanforgeError, TrainConfig
from ganforge.cli import build_parser
from ganforge.loggers import TENSORBOARD_DIR, make_logger


def _events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_training_writes_scalars_and_grids_to_tensorboard(tiny_run):
    acc = _events(tiny_run / TENSORBOARD_DIR)
    tags = acc.Tags()
    for name in ("loss_g", "loss_d", "d_real", "d_fake", "images_per_sec"):
        assert f"train/{name}" in tags["scalars"]
    assert [e.step for e in acc.Scalars("train/loss_g")] == [1, 2]  # log_every=1, 2 steps
    images = acc.Images("samples/fixed_noise")
    assert [e.step for e in images] == [0, 1, 2]  # one per grid in grids/
    assert images[0].width == 5 * 28 + 6 * 2  # a 5x5 grid with 2-pixel padding
    assert "config/text_summary" in tags["tensors"]  # add_text is stored as a tensor summary


def test_eval_records_become_eval_scalars(tmp_path):
    logger = make_logger("tensorboard", tmp_path)
    logger.record({"step": 10, "time": 1.0, "metric": "domain-fid", "domain_fid": 123.5})
    logger.grid(10, torch.zeros(4, 1, 8, 8, dtype=torch.uint8), nrow=2)
    logger.close()
    acc = _events(tmp_path / TENSORBOARD_DIR)
    [event] = acc.Scalars("eval/domain-fid/domain_fid")
    assert (event.step, event.value) == (10, 123.5)
    assert "eval/domain-fid/time" not in acc.Tags()["scalars"]


def test_resume_hides_events_after_the_checkpoint(tmp_path):
    first = make_logger("tensorboard", tmp_path)
    for step in range(1, 6):  # a run that crashed after step 5, checkpointed at 4
        first.record({"step": step, "loss_g": 100.0 + step})
    first.close()
    resumed = make_logger("tensorboard", tmp_path, start_step=4)
    for step in (5, 6):
        resumed.record({"step": step, "loss_g": float(step)})
    resumed.close()
    events = _events(tmp_path / TENSORBOARD_DIR).Scalars("train/loss_g")
    assert [(e.step, e.value) for e in events] == [(1, 101), (2, 102), (3, 103), (4, 104), (5, 5), (6, 6)]


def test_no_logger_writes_nothing(tmp_path):
    logger = make_logger("none", tmp_path)
    logger.record({"step": 1, "loss_g": 1.0})
    logger.close()
    assert not (tmp_path / TENSORBOARD_DIR).exists()


def test_unknown_logger_is_a_user_error():
    with pytest.raises(GanforgeError, match="logger must be one of none, tensorboard; got 'wandb'"):
        TrainConfig(logger="wandb").validate()
    args = build_parser().parse_args(["train", "--logger", "tensorboard"])
    assert args.logger == "tensorboard"
