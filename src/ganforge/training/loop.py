"""The training loop: ``Trainer(TrainConfig(...)).train()`` starts a run, ``Trainer.resume(dir, steps=...)``
carries one on to a new total.

Config in, objects built (``build``), the loop runs, the run folder out: each step is one call of the
:class:`~ganforge.training.step.GANStep`; around it the loop logs, draws the fixed-noise grid, evaluates,
checkpoints and listens for signals. A resume restores networks, optimisers and random streams from the
last checkpoint and sees exactly the batches and noise it would have seen.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ..checkpoint import Checkpoint, save_checkpoint
from ..config import RunConfig, TrainConfig
from ..errors import GanforgeError
from ..fileio import append_text, remove_stale_temps
from ..images import save_grid, to_uint8
from ..loggers import TrainingLogger, make_logger
from ..models.clusters import draw_clusters
from ..models.conditional import call
from ..resolve import resume_request
from ..run.folder import (
    BEST_CHECKPOINT,
    FINAL_GRID,
    LAST_CHECKPOINT,
    LOG_FILE,
    LOSSES_PLOT,
    grid_path,
    read_config,
    truncate_log,
    write_config,
)
from .build import build, nets_finite
from .distributed import any_true

Log = Callable[[str], None]


class Trainer:
    """Train a preset. ``config`` is a request (``TrainConfig``) or a complete ``RunConfig``."""

    def __init__(self, config: TrainConfig | RunConfig, *, run_dir: str | Path | None = None, log: Log = print,
                 _resume_from: Checkpoint | None = None) -> None:
        request = resume_request(config) if isinstance(config, RunConfig) else config
        b = build(request, run_dir=run_dir, log=log, resuming=_resume_from is not None)
        self.cfg, self.dataset, self.ctx, self.device, self.run_dir = b.cfg, b.dataset, b.ctx, b.device, b.run_dir
        self.gan, self.fixed_z, self.fixed_y, self.compile_mode = b.gan, b.fixed_z, b.fixed_y, b.compile_mode
        self.accel = b.accel  # the speed tricks switched in (ganforge.accel)
        self.is_main = self.ctx.is_main
        self.log = log if self.is_main else (lambda *_: None)
        self.evaluator = None
        if self.cfg.eval_every and self.is_main:
            from ..metrics.training import make_training_evaluator

            self.evaluator = make_training_evaluator(
                self.cfg.eval_metric, dataset=self.cfg.dataset, data_dir=self.cfg.data_dir, device=self.device,
                n=self.cfg.eval_n, image_shape=(self.cfg.channels, self.cfg.resolution, self.cfg.resolution),
                fit=self.cfg.fit,
                seed=self.cfg.seed, num_classes=self.cfg.num_classes if self.cfg.conditional else None, log=self.log)
        self.best: float | None = None  # best value of the eval metric so far
        self.last_eval: dict[str, float] = {}
        self.step = 0
        self._checkpoint_step: int | None = None  # step of the last complete 'last' checkpoint
        if _resume_from is not None:
            self._load(_resume_from)
        self._stop_signal: int | None = None
        self.logger = TrainingLogger()  # the configured one (TensorBoard) lives while train() runs

    # The built objects under the names the trainer always had.
    G = property(lambda self: self.gan.G)
    D = property(lambda self: self.gan.D)
    G_ema = property(lambda self: self.gan.G_ema)
    G_run = property(lambda self: self.gan.G_run)
    D_run = property(lambda self: self.gan.D_run)
    opt_g = property(lambda self: self.gan.opt["G"])
    opt_d = property(lambda self: self.gan.opt["D"])
    loss = property(lambda self: self.gan.loss)
    sampler = property(lambda self: self.gan.sampler)
    noise = property(lambda self: self.gan.noise_gen)
    total_steps = property(lambda self: self.cfg.steps)
    precision = property(lambda self: self.cfg.precision)

    @classmethod
    def resume(cls, run_dir: str | Path, *, steps: int | None = None, epochs: int | None = None,
               device: str | None = None, progress: bool | None = None, lr_schedule: str | None = None,
               lr_decay_steps: int | None = None, log: Log = print) -> Trainer:
        """Carry a run on to ``steps``/``epochs`` in total. ``lr_schedule`` and ``lr_decay_steps`` give a
        constant-rate run a decay over its last steps (a "polish"), provided the decay starts no earlier
        than the step resumed from: the run's config then still describes every step it trained."""
        run_dir = Path(run_dir)
        cfg = read_config(run_dir)
        if not (run_dir / LAST_CHECKPOINT).is_file():
            raise GanforgeError(f"run '{run_dir}' has no checkpoint to resume from (it stopped before writing its "
                                "first one); delete the folder and train again")
        ckpt = Checkpoint(run_dir / LAST_CHECKPOINT)
        ckpt.check_preset(cfg.preset)
        if steps is not None and epochs is not None:
            raise GanforgeError(f"give steps or epochs, not both (got steps={steps}, epochs={epochs})")
        new_decay = lr_schedule is not None or lr_decay_steps is not None
        if new_decay:
            if cfg.lr_schedule != "constant":
                raise GanforgeError(f"run '{run_dir}' already decays its learning rate ({cfg.lr_schedule}); a schedule "
                                    f"can only be added to a constant-rate run when it resumes")
            if lr_schedule in (None, "constant") or lr_decay_steps is None:
                raise GanforgeError(f"to add a decay when resuming, give both a decaying schedule (linear or cosine, "
                                    f"got {lr_schedule!r}) and the steps it spans (lr_decay_steps, got "
                                    f"{lr_decay_steps!r})")
        request = resume_request(cfg, steps=steps, epochs=epochs, device=device, progress=progress,
                                 lr_schedule=lr_schedule, lr_decay_steps=lr_decay_steps)
        trainer = cls(request, run_dir=run_dir, log=log, _resume_from=ckpt)
        total, decay = trainer.cfg.steps, trainer.cfg.lr_decay_steps or 0
        if new_decay and total - decay < trainer.step:
            raise GanforgeError(f"a decay over the last {decay} of {total} steps would start at step {total - decay}, "
                                f"before step {trainer.step} where run '{run_dir}' resumes (those steps had the "
                                f"constant rate); ask for at least {trainer.step + decay} steps or a decay of at "
                                f"most {total - trainer.step} steps")
        return trainer

    def _load(self, ckpt: Checkpoint) -> None:
        self.step = self._checkpoint_step = self.gan.restore(ckpt, self.log)
        self.best, self.last_eval = ckpt.meta.get("best"), ckpt.meta.get("last_eval", {})
        if self.is_main:
            remove_stale_temps(self.run_dir, self.run_dir / "checkpoints", self.run_dir / "grids")  # killed writes
            truncate_log(self.run_dir / LOG_FILE, self.step)

    def train_step(self) -> torch.Tensor:
        """One G update (and its D updates) at the current step; [loss_g, loss_d, D(x), D(G(z))], unsynced."""
        return self.gan(self.step)

    # ---- the loop ------------------------------------------------------------------------------------------

    def train(self) -> Path:
        """Train up to the run's total step count; returns the run folder."""
        cfg, total, main = self.cfg, self.cfg.steps, self.is_main
        if self.step >= total and main and not (self.run_dir / FINAL_GRID).is_file():
            # Killed after its last checkpoint but before the final outputs: write just those.
            self.log(f"run '{self.run_dir}' is at its last step ({self.step}); writing its final grid and plot")
            self._write_final_outputs()
            return self.run_dir
        if self.step >= total:
            raise GanforgeError(f"run '{self.run_dir}' is already at step {self.step}; "
                                f"ask for more steps (e.g. --steps {2 * self.step})")
        if main:
            write_config(self.run_dir, cfg)
            self.logger = make_logger(cfg.logger, self.run_dir, start_step=self.step)
            self.logger.config(cfg.to_dict())
        procs = f" x {self.ctx.world} processes" if self.ctx.enabled else ""
        if self.step == 0:
            self.log(f"training {cfg.preset} on {self.dataset.name} ({len(self.dataset)} images, "
                     f"{self.dataset.source}) for {total} steps of {cfg.batch_size} on {self.device}{procs}; "
                     f"run folder: {self.run_dir}")
            if main:
                self.save_grid(grid_path(self.run_dir, 0))
        else:
            self.log(f"resuming {self.run_dir} at step {self.step} of {total}")

        acc = torch.zeros(4, device=self.device)
        n_acc, t_log, step_log = 0, time.perf_counter(), self.step
        t_start, start_step = t_log, self.step
        # A redirected stderr gets a line every 30 s instead of a redraw every 0.1 s.
        bar = tqdm(total=total, initial=self.step, disable=not (cfg.progress and main), unit="step",
                   dynamic_ncols=True, leave=True, mininterval=0.5 if sys.stderr.isatty() else 30.0)
        old_handlers = self._install_signal_handlers()
        diverged: str | None = None
        stopped = False
        try:
            with append_text(self.run_dir / LOG_FILE) if main else contextlib.nullcontext() as logf:
                while self.step < total:
                    acc += self.train_step()
                    n_acc += 1
                    self.step += 1
                    bar.update(1)
                    last = self.step == total
                    if self.step % cfg.log_every == 0 or last:
                        now = time.perf_counter()
                        lg, ld, dx, dgz, streak, skipped = torch.cat(  # the one sync per log interval
                            [acc / n_acc, self.gan.bad_streak.view(1), self.gan.bad_total.view(1)]).tolist()
                        ips = (self.step - step_log) * cfg.batch_size / max(now - t_log, 1e-9)
                        rec = {"step": self.step, "epoch": round(self.step * cfg.d_steps / self.sampler.per_epoch, 4),
                               "images": self.step * cfg.batch_size, "time": round(now - t_start, 3),
                               "images_per_sec": round(ips, 1), "loss_g": lg, "loss_d": ld,
                               "d_real": dx, "d_fake": dgz}
                        if skipped:
                            rec["skipped_steps"] = int(skipped)  # since this process started
                        if main:
                            logf.write(json.dumps(rec) + "\n")
                            logf.flush()
                            self.logger.record(rec)
                        bar.set_postfix_str(f"{ips:,.0f} img/s  G {lg:.3f}  D {ld:.3f}  "
                                            f"D(x) {dx:.2f}  D(G(z)) {dgz:.2f}", refresh=False)
                        acc.zero_()
                        n_acc, t_log, step_log = 0, now, self.step
                        if streak >= cfg.max_bad_steps:
                            diverged = f"{int(streak)} steps in a row had a NaN or Inf loss or gradient"
                            break
                    if main and (self.step % cfg.grid_every == 0 or last):
                        self.save_grid(grid_path(self.run_dir, self.step))
                    evaluated = cfg.eval_every is not None and (self.step % cfg.eval_every == 0 or last)
                    if evaluated and self.evaluator is not None:
                        self.evaluate(logf, time.perf_counter() - t_start)
                    if self.step % cfg.checkpoint_every == 0 or last or evaluated:
                        diverged = self._divergence()
                        if diverged:
                            break
                        self.save_checkpoint()
                    # Every process stops at the same step, or the others would wait for it forever; they
                    # agree at log intervals (a sync), a single process stops at once.
                    stopped = self._stop_signal is not None
                    if self.ctx.enabled:
                        stopped = (self.step % cfg.log_every == 0 or last) and any_true(stopped, self.ctx)
                    if stopped:
                        diverged = self._divergence()
                        if not diverged:
                            self.save_checkpoint()
                        break
        finally:
            self.sampler.close()  # a streamed folder's worker processes end with the loop, however it ends
            bar.close()
            self.logger.close()
            self.logger = TrainingLogger()
            self._restore_signal_handlers(old_handlers)
        if diverged:
            where = (f"the last good checkpoint, {self.run_dir / LAST_CHECKPOINT} (step {self._checkpoint_step}), "
                     f"is intact" if self._checkpoint_step is not None else "no checkpoint had been written yet")
            raise GanforgeError(
                f"training diverged at step {self.step}: {diverged}; those updates were skipped and the run "
                f"stopped; {where}. Try lower learning rates (--lr-g/--lr-d), a gradient penalty or spectral "
                f"norm, or a larger --max-bad-steps")
        if stopped:
            name = signal.Signals(self._stop_signal).name if self._stop_signal else "another process"
            self.log(f"stopped by {name} at step {self.step}; checkpoint saved. "
                     f"Continue with: ganforge train --resume {self.run_dir}")
            raise KeyboardInterrupt
        secs = time.perf_counter() - t_start
        if main:
            self._write_final_outputs()
        if self.last_eval:
            values = ", ".join(f"{k} {v:.4g}" for k, v in self.last_eval.items())
            self.log(f"{self.evaluator.name} at step {self.step}: {values} (best {self.evaluator.key} {self.best:.4g}, "
                     f"checkpoint {self.run_dir / BEST_CHECKPOINT})")
        self.log(f"done: {self.step - start_step} steps in {secs:.1f} s "
                 f"({(self.step - start_step) * cfg.batch_size / max(secs, 1e-9):,.0f} images/s). "
                 f"Samples: {self.run_dir / FINAL_GRID}; more with: ganforge sample {self.run_dir}")
        return self.run_dir

    def _write_final_outputs(self) -> None:
        from ..plotting import plot_losses

        plot_losses(self.run_dir / LOG_FILE, self.run_dir / LOSSES_PLOT)
        self.save_grid(self.run_dir / FINAL_GRID, caption=self.last_eval)  # last: marks the run done

    def _divergence(self) -> str | None:
        """Why the run must stop before writing a checkpoint (None when all is well): too many bad steps
        in a row, or a NaN/Inf in the weights or buffers, which a checkpoint must never hold."""
        if self.gan.bad_streak.item() >= self.cfg.max_bad_steps:
            return f"{int(self.gan.bad_streak.item())} steps in a row had a NaN or Inf loss or gradient"
        broken = nets_finite(self.gan.modules())
        return f"{broken}'s weights or BatchNorm statistics hold NaN or Inf values" if broken else None

    # ---- outputs -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 images from the sampling generator (the EMA when on, else G in inference mode);
        ``y``: the class labels of a conditional run."""
        if self.G_ema is not None:
            return to_uint8(call(self.G_ema, z, y))
        was_training = self.G.training
        self.G.eval()
        images = to_uint8(call(self.G, z, y))
        self.G.train(was_training)
        return images

    def save_grid(self, path: Path, caption: dict[str, float] | None = None) -> None:
        text = {"step": str(self.step), **{k: f"{v:.6g}" for k, v in (caption or {}).items()}}
        images = self.generate(self.fixed_z, self.fixed_y)
        save_grid(images, path, nrow=self.cfg.grid_size, text=text)
        self.logger.grid(self.step, images, self.cfg.grid_size)

    def generate_for_eval(self, n: int, seed: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` uint8 images on the CPU from their own seeded noise (the training RNG is untouched), in
        chunks of 500; ``labels``: the classes a conditional run is asked for (the evaluator's class mix)."""
        z = torch.randn(n, self.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
        if labels is None and self.cfg.cluster_shares:  # self-conditioned: clusters in their shares
            labels = draw_clusters(self.cfg.cluster_shares, n, generator=torch.Generator().manual_seed(seed + 1))
        y = labels.to(self.device) if labels is not None else None
        ys = y.split(500) if y is not None else [None] * len(z.split(500))
        return torch.cat([self.generate(c.to(self.device), yc).cpu() for c, yc in zip(z.split(500), ys)])

    def evaluate(self, logf: Any, elapsed: float) -> None:
        """Run the training metric on fresh samples; a better value writes the 'best' checkpoint."""
        values = self.evaluator(self.generate_for_eval)
        self.last_eval = values
        rec = {"step": self.step, "time": round(elapsed, 3), "metric": self.evaluator.name, **values}
        logf.write(json.dumps(rec) + "\n")
        logf.flush()
        self.logger.record(rec)
        value = values[self.evaluator.key]
        if self.best is None or (value < self.best if self.evaluator.lower_is_better else value > self.best):
            self.best = value
            self.save_checkpoint(self.run_dir / BEST_CHECKPOINT)

    def save_checkpoint(self, path: Path | None = None) -> None:
        if not self.is_main:  # the processes hold identical weights; one writes them
            return
        cfg = self.cfg
        meta = {"step": self.step, "preset": cfg.preset, "dataset": cfg.dataset,
                "image_shape": [cfg.channels, cfg.resolution, cfg.resolution], "z_dim": cfg.z_dim,
                "config": cfg.to_dict(), "best": self.best, "last_eval": self.last_eval,
                "num_classes": cfg.num_classes, "class_names": cfg.class_names}
        save_checkpoint(path or self.run_dir / LAST_CHECKPOINT, modules=self.gan.modules(),
                        optimizers=self.gan.optimizers(), rng=self.gan.rng_state(), meta=meta)
        if path is None:
            self._checkpoint_step = self.step

    def _install_signal_handlers(self) -> dict[int, Any]:
        # Finish the current step, checkpoint, then stop: a mid-step interrupt would save a state
        # in which D has been updated and G not.
        old: dict[int, Any] = {}

        def handler(signum: int, frame: Any) -> None:
            self._stop_signal = signum

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return old

    @staticmethod
    def _restore_signal_handlers(old: dict[int, Any]) -> None:
        for sig, h in old.items():
            signal.signal(sig, h)

