"""The training loop: one Trainer that builds a preset, feeds it batches from an in-memory
dataset, logs, draws grids, checkpoints and resumes exactly.

Update schemes (``d_update``), because the tutorials differ and the difference changes results:
- ``simultaneous``: one forward pass, G and D losses from the same fakes, both updated at once
  (TensorFlow's DCGAN tutorial, two GradientTapes).
- ``sum``: D step on loss(real) + loss(fake), then a G step on fresh noise (PyTorch's DCGAN example).
- ``concat``: D step on the real and fake batches concatenated (one D pass, mean over 2B), then G.
- ``separate``: one D step on the real batch, another on the fake batch, then G (Keras
  ``train_on_batch`` twice, as the SGD tutorial).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from . import accel
from .accel.settings import compiled, fused_supported, use_channels_last, use_compile, with_precision
from .accel.shared_backward import backward_both, batch_independent
from .augment import diff_augment, parse_augment
from .checkpoint import Checkpoint, save_checkpoint
from .config import TrainConfig
from .data import ImageDataset, load_dataset
from .distributed import (
    any_true,
    average_gradients,
    barrier,
    broadcast_string,
    init_from_env,
    sync_batchnorm,
)
from .errors import GanforgeError
from .fileio import append_text, atomic_write_text, remove_stale_temps
from .images import save_grid, to_uint8
from .loggers import TrainingLogger, make_logger
from .losses import LOSSES, GANLoss
from .models.conditional import call, num_classes_of
from .models.layers import init_weights
from .pacgan import pack
from .presets import Preset, conditional_presets, get_preset
from .regularizers import apply_spectral_norm, gradient_penalty, r1_due, r1_penalty
from .schedule import lr_factor

CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
LAST_CHECKPOINT = "checkpoints/last.safetensors"
BEST_CHECKPOINT = "checkpoints/best.safetensors"
MAX_GRID_CLASSES = 20  # a conditional grid shows one row per class, for at most this many classes


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanforgeError(f"device '{name}' was asked for but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


def build_models(cfg: TrainConfig, preset: Preset | None = None) -> tuple[nn.Module, nn.Module]:
    """Build G and D for a resolved config, initialised with the config's scheme."""
    preset = preset or get_preset(cfg.preset)
    g, d = preset.generator(cfg), preset.discriminator(cfg)
    if cfg.conditional and (num_classes_of(g) is None or num_classes_of(d) is None):
        raise GanforgeError(f"preset {cfg.preset!r} has no class-conditional version; conditional presets: "
                            f"{', '.join(conditional_presets())}")
    init_weights(g, cfg.init or "torch")
    init_weights(d, cfg.init or "torch")
    if cfg.spectral_norm in ("d", "gd"):  # after the init: SN rescales whatever weights it is given
        apply_spectral_norm(d)
    if cfg.spectral_norm == "gd":
        apply_spectral_norm(g)
    return g, d


def build_optimizer(cfg: TrainConfig, params: Any, lr: float,
                    device: torch.device | None = None) -> torch.optim.Optimizer:
    # Fused: one kernel per step (4x faster than foreach for 3M parameters on the CPU), and it skips a
    # step on the device when told the gradients are not finite (the divergence guard), without a sync.
    fused = True if device is not None and fused_supported(device) else None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum or 0.0, fused=fused)
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas or (0.9, 0.999)), fused=fused)


def default_run_dir(cfg: TrainConfig) -> Path:
    dataset = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(cfg.dataset.removeprefix("folder:")).name or cfg.dataset)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.preset}-{dataset}-{stamp}"


class BatchSampler:
    """Shuffled batches by index from one uint8 tensor on the device.

    The order of epoch ``e`` is a permutation seeded by (seed, e), so the batch for any step is a
    pure function of the step: nothing to save, and a resume sees exactly the batches it would have.
    The last incomplete batch of an epoch is dropped so every step has the same shape.
    With ``labels`` (int64, on the same device), ``labelled_batch`` gives each batch's labels too.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int,
                 labels: torch.Tensor | None = None, *, rank: int = 0, world: int = 1) -> None:
        self.images, self.batch_size, self.seed, self.labels = images, batch_size, seed, labels
        # Data-parallel: process ``rank`` of ``world`` takes its slice of every global batch.
        self.rank, self.world = rank, world
        self.per_epoch = images.shape[0] // batch_size
        self._epoch, self._perm = -1, torch.empty(0)

    def batch(self, index: int) -> torch.Tensor:
        return self.labelled_batch(index)[0]

    def labelled_batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(images, labels) of batch ``index``; labels are None when the sampler has none."""
        epoch, pos = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.images.shape[0], generator=gen).to(self.images.device)
            self._epoch = epoch
        idx = self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]
        if self.world > 1:
            local = self.batch_size // self.world
            idx = idx[self.rank * local:(self.rank + 1) * local]
        labels = None if self.labels is None else self.labels.index_select(0, idx)
        # uint8 [0, 255] -> float [-1, 1] on the device
        return self.images.index_select(0, idx).float().div_(127.5).sub_(1.0), labels


class Trainer:
    """Train a preset. ``Trainer(config).train()`` starts a run; ``Trainer.resume(dir, steps=...)``
    carries one on to a new total."""

    def __init__(self, config: TrainConfig, *, run_dir: str | Path | None = None,
                 log: Callable[[str], None] = print, _resume_from: Checkpoint | None = None) -> None:
        self.log = log
        self.cfg = config.resolved(preset_defaults=_resume_from is None)
        if self.cfg.data_dir:  # recorded absolute, so eval and resume work from any folder
            self.cfg.data_dir = str(Path(self.cfg.data_dir).expanduser().resolve())
        self.preset = get_preset(self.cfg.preset)
        self.loss: GANLoss = LOSSES[self.cfg.loss or "bce"]
        # Under torchrun, join the process group: each process trains on its shard of every batch.
        self.ctx, self.device = init_from_env(resolve_device(self.cfg.device))
        self.is_main = self.ctx.is_main  # only the main process logs, draws grids and writes files
        if not self.is_main:
            self.log = lambda *a, **k: None
        explicit_dir = run_dir or self.cfg.out
        if explicit_dir and _resume_from is None and self.is_main:
            _check_new_run_dir(Path(explicit_dir))  # before the dataset loads: fail fast
        if self.cfg.batch_size % self.ctx.world:
            raise GanforgeError(f"batch size {self.cfg.batch_size} (the global batch) must divide evenly among "
                                f"{self.ctx.world} processes; choose a multiple of {self.ctx.world}")
        self.local_batch = self.cfg.batch_size // self.ctx.world
        m = self.cfg.pack or 1
        if self.local_batch % m:  # real and fake halves are each local_batch images: packs never mix them
            per_process = (f"per-process batch size {self.local_batch} (batch size {self.cfg.batch_size} over "
                           f"{self.ctx.world} processes)" if self.ctx.world > 1 else f"batch size {self.local_batch}")
            raise GanforgeError(f"{per_process} is not divisible by pack {m}; choose a batch size that is a multiple "
                                f"of {m * self.ctx.world}")

        c, h, _ = self.preset.image_shape
        if not self.is_main:
            barrier(self.ctx)  # let the main process download the data first
        self.dataset: ImageDataset = load_dataset(
            self.cfg.dataset, data_dir=self.cfg.data_dir, channels=c, size=h, log=self.log)
        if self.is_main:
            barrier(self.ctx)
        self.cfg.dataset = self.dataset.name  # e.g. the mnist-sample fallback: record what was used
        # Named after the data actually used (the fallback, too).
        self.run_dir = Path(explicit_dir or broadcast_string(str(default_run_dir(self.cfg)), self.ctx))
        if _resume_from is None and self.is_main:
            _check_new_run_dir(self.run_dir)
        n = self.dataset.images.shape[0]
        if n < self.cfg.batch_size:
            raise GanforgeError(
                f"batch size {self.cfg.batch_size} is larger than dataset '{self.dataset.name}' ({n} images)")
        self.num_classes = _record_classes(self.cfg, self.dataset) if self.cfg.conditional else None
        labels = self.dataset.labels.to(self.device) if self.num_classes else None
        self.sampler = BatchSampler(self.dataset.images.to(self.device), self.cfg.batch_size, self.cfg.seed, labels,
                                    rank=self.ctx.rank, world=self.ctx.world)
        d_steps = self.cfg.d_steps or 1
        # The run length in steps; with --epochs it follows from the dataset size.
        self.total_steps: int = self.cfg.steps or math.ceil(self.cfg.epochs * self.sampler.per_epoch / d_steps)
        decay = self.cfg.lr_decay_steps
        if decay is not None and decay > self.total_steps:
            raise GanforgeError(f"lr_decay_steps {decay} is more than the run's {self.total_steps} steps; give at most "
                                f"{self.total_steps}, or leave it unset to decay over the whole run")
        if self.cfg.grid_every is None:
            self.cfg.grid_every = max(1, self.total_steps // 10)
        if self.cfg.checkpoint_every is None:
            self.cfg.checkpoint_every = self.cfg.grid_every

        torch.manual_seed(self.cfg.seed)  # the same initial weights in every process
        self.G, self.D = (m.to(self.device) for m in build_models(self.cfg, self.preset))
        if self.ctx.enabled:  # BatchNorm over the global batch: N processes compute what one would
            self.G, self.D = sync_batchnorm(self.G, self.device), sync_batchnorm(self.D, self.device)
        if use_channels_last(self.cfg.channels_last or "auto", [self.G, self.D]):
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        # The CPU speed tricks (ganforge.accel): the same maths, switched into G and D here and nowhere else.
        self.accel = accel.plan(self.cfg.accel or "auto", self.device)
        accel.apply(self.accel, self.G, self.D)
        self.G.train()
        self.D.train()
        self.opt_g = build_optimizer(self.cfg, self.G.parameters(), self.cfg.lr_g, self.device)
        self.opt_d = build_optimizer(self.cfg, self.D.parameters(), self.cfg.lr_d, self.device)
        # What the step calls: the same modules, compiled and under autocast when asked for.
        mode = use_compile(self.cfg.compile or "auto", self.device)
        precision = self.cfg.precision or "fp32"
        self.G_run = with_precision(compiled(self.G, mode), precision, self.device)
        self.D_run = with_precision(compiled(self.D, mode), precision, self.device)
        self.compile_mode, self.precision = mode, precision
        # Divergence guard: 1 when the update in progress has a non-finite loss or gradient.
        self._found_inf = torch.zeros((), device=self.device)
        self._step_bad = torch.zeros((), device=self.device)  # this step had a skipped update
        self._bad_streak = torch.zeros((), device=self.device)  # bad steps in a row
        self._bad_total = torch.zeros((), device=self.device)
        self._one = torch.ones((), device=self.device)
        self.g_params = [p for p in self.G.parameters() if p.requires_grad]
        # With g_noise "reuse", the D step's G forward serves the G step too when recomputing it would
        # give the same numbers: no BatchNorm statistics, spectral-norm vectors (buffers) or dropout.
        self._g_forward_shareable = (not any(True for _ in self.G.buffers())
                                     and not any(isinstance(m, nn.Dropout) for m in self.G.modules()))
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]
        # The EMA of G's weights (Karras et al.): smoother samples; used for grids and sampling when on.
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if self.cfg.ema_kimg else None
        self.noise = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 1)
        if self.ctx.enabled:  # dropout masks etc.: each process its own stream (noise z is shared, then sliced)
            torch.manual_seed(self.cfg.seed * 1_000_003 + self.ctx.rank)
        self.augment = parse_augment(self.cfg.augment or "none")  # DiffAugment draws from self.noise
        # A simultaneous step's two losses can share one backward through D (accel.shared_backward) when D
        # scores each image on its own, seen directly (no DiffAugment, no packing); the plan says whether they do.
        self._share_d_backward = batch_independent(self.D) and not self.augment and (self.cfg.pack or 1) == 1
        fixed = torch.Generator().manual_seed(self.cfg.seed + 2)
        self.fixed_z = torch.randn(self.cfg.grid_size ** 2, self.cfg.z_dim, generator=fixed).to(self.device)
        self.fixed_y = None
        if self.num_classes:  # one row per class, the same noise down each column
            rows = min(self.num_classes, MAX_GRID_CLASSES)
            self.fixed_z = self.fixed_z[:self.cfg.grid_size].repeat(rows, 1)
            self.fixed_y = torch.arange(rows, device=self.device).repeat_interleave(self.cfg.grid_size)
        self.evaluator = None
        if self.cfg.eval_every and self.is_main:
            from .metrics.training import make_training_evaluator

            self.evaluator = make_training_evaluator(
                self.cfg.eval_metric, dataset=self.cfg.dataset, data_dir=self.cfg.data_dir, device=self.device,
                n=self.cfg.eval_n, image_shape=self.preset.image_shape, seed=self.cfg.seed,
                num_classes=self.num_classes, log=self.log)
        self.best: float | None = None  # best value of the eval metric so far
        self.last_eval: dict[str, float] = {}
        self.step = 0
        self._checkpoint_step: int | None = None  # step of the last complete 'last' checkpoint
        if _resume_from is not None:
            self._load(_resume_from)
        self._stop_signal: int | None = None
        self.logger = TrainingLogger()  # the configured one (TensorBoard) lives while train() runs

    # ---- construction from a run folder ------------------------------------------------------

    @classmethod
    def resume(cls, run_dir: str | Path, *, steps: int | None = None, epochs: int | None = None,
               device: str | None = None, progress: bool | None = None, lr_schedule: str | None = None,
               lr_decay_steps: int | None = None, log: Callable[[str], None] = print) -> Trainer:
        """Carry a run on to ``steps``/``epochs`` in total. ``lr_schedule`` and ``lr_decay_steps`` give a
        constant-rate run a decay over its last steps (a "polish"), provided the decay starts no earlier
        than the step resumed from: the run's config then still describes every step it trained."""
        run_dir = Path(run_dir)
        cfg = load_run_config(run_dir)
        if not (run_dir / LAST_CHECKPOINT).is_file():
            raise GanforgeError(f"run '{run_dir}' has no checkpoint to resume from (it stopped before writing its "
                                "first one); delete the folder and train again")
        ckpt = Checkpoint(run_dir / LAST_CHECKPOINT)
        ckpt.check_preset(cfg.preset)
        if steps is not None and epochs is not None:
            raise GanforgeError(f"give steps or epochs, not both (got steps={steps}, epochs={epochs})")
        if steps is not None or epochs is not None:
            cfg.steps, cfg.epochs = steps, epochs
        if device is not None:
            cfg.device = device
        if progress is not None:
            cfg.progress = progress
        new_decay = lr_schedule is not None or lr_decay_steps is not None
        if new_decay:
            if (cfg.lr_schedule or "constant") != "constant":
                raise GanforgeError(f"run '{run_dir}' already decays its learning rate ({cfg.lr_schedule}); a schedule "
                                    f"can only be added to a constant-rate run when it resumes")
            if lr_schedule in (None, "constant") or lr_decay_steps is None:
                raise GanforgeError(f"to add a decay when resuming, give both a decaying schedule (linear or cosine, "
                                    f"got {lr_schedule!r}) and the steps it spans (lr_decay_steps, got "
                                    f"{lr_decay_steps!r})")
            cfg.lr_schedule, cfg.lr_decay_steps = lr_schedule, lr_decay_steps
        trainer = cls(cfg, run_dir=run_dir, log=log, _resume_from=ckpt)
        total, decay = trainer.total_steps, cfg.lr_decay_steps or 0
        if new_decay and total - decay < trainer.step:
            raise GanforgeError(f"a decay over the last {decay} of {total} steps would start at step {total - decay}, "
                                f"before step {trainer.step} where run '{run_dir}' resumes (those steps had the "
                                f"constant rate); ask for at least {trainer.step + decay} steps or a decay of at "
                                f"most {total - trainer.step} steps")
        return trainer

    def _load(self, ckpt: Checkpoint) -> None:
        ckpt.load_module("G", self.G)
        if self.G_ema is not None:
            ckpt.load_module("G_ema", self.G_ema)
        ckpt.load_module("D", self.D)
        ckpt.load_optimizer("opt_g", self.opt_g)
        ckpt.load_optimizer("opt_d", self.opt_d)
        for opt in (self.opt_g, self.opt_d):
            _match_param_layout(opt)
        self.step = int(ckpt.meta.get("step", 0))
        self._checkpoint_step = self.step
        self.best = ckpt.meta.get("best")
        self.last_eval = ckpt.meta.get("last_eval", {})
        rng = ckpt.tensors("rng")  # one read of the file for every RNG state
        for name in ("torch", "noise"):
            if name not in rng:
                raise GanforgeError(f"checkpoint '{ckpt.path}' lacks the '{name}' RNG state; cannot resume exactly")
        torch.set_rng_state(rng["torch"])
        noise_state = rng["noise"]
        if noise_state.numel() == self.noise.get_state().numel():
            self.noise.set_state(noise_state)
        else:  # a run moved between CPU and GPU: the generators differ, so reseed from the step
            self.log("note: resuming on another device kind; noise continues from a new stream")
            self.noise.manual_seed(self.cfg.seed + 1 + self.step)
        cuda_state = rng.get("cuda")
        if cuda_state is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(cuda_state, self.device)
        if self.ctx.enabled:  # dropout masks etc.: each process its own stream
            torch.manual_seed(self.cfg.seed * 1_000_003 + self.step * 1009 + self.ctx.rank)
        if self.is_main:
            remove_stale_temps(self.run_dir, self.run_dir / "checkpoints", self.run_dir / "grids")  # killed writes
            _truncate_log(self.run_dir / LOG_FILE, self.step)

    # ---- one step ------------------------------------------------------------------------------

    def _z(self, n: int) -> torch.Tensor:
        # Every process draws the global batch's noise and keeps its slice: the same numbers as one process.
        z = torch.randn(n * self.ctx.world, self.cfg.z_dim, device=self.device, generator=self.noise)
        return z[self.ctx.rank * n:(self.ctx.rank + 1) * n] if self.ctx.enabled else z

    def _y(self, n: int) -> torch.Tensor | None:
        """Class labels for fakes, uniform over the classes (None for an unconditional run)."""
        if not self.num_classes:
            return None
        y = torch.randint(self.num_classes, (n * self.ctx.world,), device=self.device, generator=self.noise)
        return y[self.ctx.rank * n:(self.ctx.rank + 1) * n] if self.ctx.enabled else y

    def _fakes_for_d(self, n: int, keep_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(fakes, z, y) for a D step. ``keep_graph``: G's forward is recorded for autograd, so the G step
        can train on these very fakes (only for a G whose forward does not depend on its mode)."""
        z, y = self._z(n), self._y(n)
        if keep_graph:
            return call(self.G_run, z, y), z, y
        with torch.no_grad():
            if self.cfg.g_eval_for_d:  # Keras predict(): BatchNorm uses its moving statistics
                self.G.eval()
                fake = call(self.G_run, z, y)
                self.G.train()
                return fake, z, y
            return call(self.G_run, z, y), z, y

    def train_step(self) -> torch.Tensor:
        """One G update (and ``d_steps`` D updates). Returns [loss_g, loss_d, D(x), D(G(z))] on the
        device, without synchronising."""
        cfg, loss, G, D = self.cfg, self.loss, self.G_run, self._d_view()
        b = self.local_batch  # this process's share of the batch
        self._set_lr()
        if cfg.d_update == "simultaneous":
            real, y_real = self.sampler.labelled_batch(self.step)
            z, y_fake = self._z(b), self._y(b)
            fake = call(G, z, y_fake)
            r, f = call(D, real, y_real), call(D, fake, y_fake)
            lg = loss.g(f)
            ld = loss.d_real(r) + loss.d_fake(f)
            self.opt_g.zero_grad(set_to_none=True)
            self.opt_d.zero_grad(set_to_none=True)
            one_pass = self.accel.shared_backward and self._share_d_backward
            if not (one_pass and backward_both(lg, ld, f, fake, self.g_params, self.d_params)):
                lg.backward(inputs=self.g_params, retain_graph=True)
                ld.backward(inputs=self.d_params)
            self._apply(self.opt_g, lg, self.g_params)
            self._apply(self.opt_d, ld, self.d_params)
            self._update_ema()
            return self._stats(lg, ld, r, f)

        d_steps = cfg.d_steps or 1
        reuse = cfg.g_noise == "reuse"  # G's step on the last D step's noise, as the Keras MLP-Adam loop
        for j in range(d_steps):
            real, y_real = self.sampler.labelled_batch(self.step * d_steps + j)
            shared = reuse and j == d_steps - 1 and self._g_forward_shareable
            fake_g, z, y_fake = self._fakes_for_d(b, keep_graph=shared)
            fake = fake_g.detach()
            # The penalties see D at the real labels (also at the points between real and fake).
            d_eager = self._d_view(eager=True)
            d_pen = d_eager if y_real is None else (lambda x, y=y_real, d=d_eager: d(x, y))
            if cfg.d_update == "separate":
                self.opt_d.zero_grad(set_to_none=True)
                r = call(D, real, y_real)
                l_real = loss.d_real(r)
                (l_real + self._d_penalty(d_pen, real, fake, self.step * d_steps + j)).backward()
                self._apply(self.opt_d, l_real, self.d_params)
                self.opt_d.zero_grad(set_to_none=True)
                f = call(D, fake, y_fake)
                l_fake = loss.d_fake(f)
                l_fake.backward()
                self._apply(self.opt_d, l_fake, self.d_params)
                ld = 0.5 * (l_real.detach() + l_fake.detach())  # what Keras' loop reports
            else:
                self.opt_d.zero_grad(set_to_none=True)
                if cfg.d_update == "concat":
                    y_both = None if y_real is None else torch.cat([y_real, y_fake])
                    # Halves of the logits, not of the images: with packing D gives b/m logits per half.
                    r, f = call(D, torch.cat([real, fake]), y_both).chunk(2)
                    ld = 0.5 * (loss.d_real(r) + loss.d_fake(f))
                else:
                    r, f = call(D, real, y_real), call(D, fake, y_fake)
                    ld = loss.d_real(r) + loss.d_fake(f)
                (ld + self._d_penalty(d_pen, real, fake, self.step * d_steps + j)).backward()
                self._apply(self.opt_d, ld, self.d_params)
        self.opt_g.zero_grad(set_to_none=True)
        if not reuse:
            z, y_fake = self._z(b), self._y(b)
        y = y_fake
        # The shared forward is the one G would compute again: its weights have not changed since.
        f_g = call(D, fake_g if shared else call(G, z, y), y)
        lg = loss.g(f_g)
        lg.backward(inputs=self.g_params)  # D's weights get no gradient: it is frozen for this step
        self._apply(self.opt_g, lg, self.g_params)
        self._update_ema()
        return self._stats(lg, ld, r, f)

    def _apply(self, opt: torch.optim.Optimizer, loss: torch.Tensor, params: list[nn.Parameter]) -> None:
        """``opt.step()`` with the gradients averaged over the processes, unless the loss or a gradient
        is NaN or Inf (the divergence guard): then the update is skipped and counted, without a sync."""
        average_gradients(params, self.ctx, loss)
        found = self._found_inf
        torch.logical_not(torch.isfinite(loss.detach().float()), out=found)
        grads = [p.grad for p in params if p.grad is not None]
        if grads:  # sets found to 1 on any non-finite gradient (and multiplies by 1)
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found, self._one)
        torch.maximum(self._step_bad, found, out=self._step_bad)
        if getattr(opt, "_step_supports_amp_scaling", False):  # fused: the kernel skips the update itself
            opt.found_inf, opt.grad_scale = found, None
            opt.step()
        elif not found.item():
            opt.step()

    def _count_bad_step(self) -> None:
        bad = self._step_bad
        self._bad_total.add_(bad)
        self._bad_streak.add_(bad).mul_(bad)  # +1 on a bad step, back to 0 on a good one
        bad.zero_()

    def _d_view(self, eager: bool = False) -> Callable[..., torch.Tensor]:
        """D as the losses see it: behind DiffAugment when it is on (real and fake alike, every step),
        then PacGAN packing when on (after DiffAugment, so each image gets its own transform).
        ``eager`` gives the uncompiled D, for the penalties: compiled graphs have no double backward."""
        d = self.D if eager else self.D_run
        m = self.cfg.pack or 1
        if not self.augment and m == 1:
            return d

        def view(x: torch.Tensor, *args: Any, **kw: Any) -> torch.Tensor:
            if self.augment:
                x = diff_augment(x, self.augment, self.noise)
            return d(pack(x, m), *args, **kw)  # a reshape: the penalties' gradients reach each image

        return view

    def _d_penalty(self, d: Callable[..., torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                   d_step: int) -> torch.Tensor | float:
        """The regularisers' share of D's loss for one D step (0 when none is on)."""
        cfg, total = self.cfg, 0.0
        if cfg.r1_gamma and r1_due(d_step, cfg.r1_every or 1):
            # Lazy R1 (StyleGAN2): every k-th step, k times as strong, the same strength on average.
            total = total + 0.5 * cfg.r1_gamma * (cfg.r1_every or 1) * r1_penalty(d, real)
        if cfg.gp_weight:
            total = total + cfg.gp_weight * gradient_penalty(d, real, fake, generator=self.noise)
        return total

    def _set_lr(self) -> None:
        if (self.cfg.lr_schedule or "constant") == "constant":
            return
        factor = lr_factor(self.cfg.lr_schedule, self.step, self.total_steps, self.cfg.lr_decay_steps)
        for opt, lr in ((self.opt_g, self.cfg.lr_g), (self.opt_d, self.cfg.lr_d)):
            for group in opt.param_groups:
                if isinstance(group["lr"], torch.Tensor):  # a tensor lr (compiled optimisers) keeps its identity
                    group["lr"].fill_(lr * factor)
                else:
                    group["lr"] = lr * factor

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        # Half-life in images, ramped up over the first images (StyleGAN2-ADA's ema_rampup 0.05) so
        # the random initial weights are forgotten quickly.
        images = (self.step + 1) * self.cfg.batch_size
        halflife = min(self.cfg.ema_kimg * 1000, images * 0.05)
        beta = 0.5 ** (self.cfg.batch_size / max(halflife, 1e-8))
        ema_p, p = list(self.G_ema.parameters()), list(self.G.parameters())
        torch._foreach_lerp_(ema_p, p, 1.0 - beta)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    def _stats(self, lg: torch.Tensor, ld: torch.Tensor, r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if self.loss.probabilistic:
                r, f = torch.sigmoid(r), torch.sigmoid(f)
            return torch.stack([lg.detach(), ld.detach(), r.float().mean(), f.float().mean()])

    # ---- the loop --------------------------------------------------------------------------------

    def train(self) -> Path:
        """Train up to the run's total step count; returns the run folder."""
        cfg, total, main = self.cfg, self.total_steps, self.is_main
        if self.step >= total and main and not (self.run_dir / "final_grid.png").is_file():
            # Killed after its last checkpoint but before the final outputs: write just those.
            self.log(f"run '{self.run_dir}' is at its last step ({self.step}); writing its final grid and plot")
            self._write_final_outputs()
            return self.run_dir
        if self.step >= total:
            raise GanforgeError(
                f"run '{self.run_dir}' is already at step {self.step}; "
                f"ask for more steps (e.g. --steps {2 * self.step})")
        if main:
            atomic_write_text(self.run_dir / CONFIG_FILE, cfg.to_json())  # creates the folder, or a one-line error
            self.logger = make_logger(cfg.logger, self.run_dir, start_step=self.step)
            self.logger.config(cfg.to_dict())
        procs = f" x {self.ctx.world} processes" if self.ctx.enabled else ""
        if self.step == 0:
            self.log(f"training {cfg.preset} on {self.dataset.name} ({self.dataset.images.shape[0]} images, "
                     f"{self.dataset.source}) for {total} steps of {cfg.batch_size} on {self.device}{procs}; "
                     f"run folder: {self.run_dir}")
            if main:
                self.save_grid(self.run_dir / "grids" / "step_000000.png")
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
                    self._count_bad_step()
                    n_acc += 1
                    self.step += 1
                    bar.update(1)
                    last = self.step == total
                    if self.step % cfg.log_every == 0 or last:
                        now = time.perf_counter()
                        # the one sync per log interval
                        lg, ld, dx, dgz, streak, skipped = torch.cat(
                            [acc / n_acc, self._bad_streak.view(1), self._bad_total.view(1)]).tolist()
                        ips = (self.step - step_log) * cfg.batch_size / max(now - t_log, 1e-9)
                        rec = {"step": self.step, "epoch": round(self.step * (cfg.d_steps or 1)
                                                                 / self.sampler.per_epoch, 4),
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
                        self.save_grid(self.run_dir / "grids" / f"step_{self.step:06d}.png")
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
                        if diverged:
                            break
                        self.save_checkpoint()
                        break
        finally:
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
                 f"Samples: {self.run_dir / 'final_grid.png'}; more with: ganforge sample {self.run_dir}")
        return self.run_dir

    def _write_final_outputs(self) -> None:
        from .plotting import plot_losses

        plot_losses(self.run_dir / LOG_FILE, self.run_dir / "losses.png")
        self.save_grid(self.run_dir / "final_grid.png", caption=self.last_eval)  # last: marks the run done

    def _divergence(self) -> str | None:
        """Why the run must stop before writing a checkpoint (None when all is well): too many bad steps
        in a row, or a NaN/Inf in the weights or buffers, which a checkpoint must never hold."""
        if self._bad_streak.item() >= self.cfg.max_bad_steps:
            return f"{int(self._bad_streak.item())} steps in a row had a NaN or Inf loss or gradient"
        modules = {"G": self.G, "D": self.D, **({"G_ema": self.G_ema} if self.G_ema is not None else {})}
        for name, module in modules.items():
            tensors = [t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()]
            if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
                return f"{name}'s weights or BatchNorm statistics hold NaN or Inf values"
        return None

    # ---- outputs -------------------------------------------------------------------------------

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
        chunks of 500; ``labels``: the classes a conditional run is asked for (the evaluator's class mix,
        as `ganforge eval` uses)."""
        z = torch.randn(n, self.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
        y = labels.to(self.device) if labels is not None else None
        ys = y.split(500) if y is not None else [None] * len(z.split(500))
        return torch.cat([self.generate(c.to(self.device), yc).cpu() for c, yc in zip(z.split(500), ys)])

    def evaluate(self, logf: Any, elapsed: float) -> None:
        """Run the training metric on fresh samples."""
        values = self.evaluator(self.generate_for_eval)
        self.last_eval = values
        rec = {"step": self.step, "time": round(elapsed, 3), "metric": self.evaluator.name, **values}
        logf.write(json.dumps(rec) + "\n")
        logf.flush()
        self.logger.record(rec)
        value = values[self.evaluator.key]
        better = self.best is None or (value < self.best if self.evaluator.lower_is_better else value > self.best)
        if better:
            self.best = value
            self.save_checkpoint(self.run_dir / BEST_CHECKPOINT)

    def save_checkpoint(self, path: Path | None = None) -> None:
        if not self.is_main:  # the processes hold identical weights; one writes them
            return
        rng = {"torch": torch.get_rng_state(), "noise": self.noise.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {"step": self.step, "preset": self.cfg.preset, "dataset": self.cfg.dataset,
                "image_shape": list(self.preset.image_shape), "z_dim": self.cfg.z_dim,
                "config": self.cfg.to_dict(), "best": self.best, "last_eval": self.last_eval,
                "num_classes": self.num_classes, "class_names": self.cfg.extra.get("class_names")}
        save_checkpoint(path or self.run_dir / LAST_CHECKPOINT,
                        modules={"G": self.G, "D": self.D, **({"G_ema": self.G_ema} if self.G_ema is not None else {})},
                        optimizers={"opt_g": self.opt_g, "opt_d": self.opt_d}, rng=rng, meta=meta)
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


def _record_classes(cfg: TrainConfig, dataset: ImageDataset) -> int:
    """The class count of a conditional run, from the dataset's labels, written into ``cfg.extra`` so
    that the run folder alone rebuilds the models."""
    if dataset.labels is None or not dataset.num_classes:
        raise GanforgeError(f"a conditional run needs class labels, and dataset '{dataset.name}' has none; "
                            "use a labelled dataset (mnist, fashion-mnist, mnist-sample, stacked-mnist, or "
                            "folder:PATH with one sub-folder per class) or drop --conditional")
    n = int(dataset.num_classes)
    recorded = cfg.extra.get("num_classes")
    if recorded is not None and recorded != n:  # e.g. a resumed run whose image folder changed
        raise GanforgeError(f"this run was made for {recorded} classes but dataset '{dataset.name}' has {n}")
    cfg.extra["num_classes"] = n
    if dataset.class_names is not None:
        cfg.extra["class_names"] = list(dataset.class_names)
    return n


def _match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimiser state the memory layout of its parameter (channels_last ones included):
    fused optimisers walk parameter and state in memory order and assume they match."""
    for p, state in opt.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                state[key] = torch.empty_like(p).copy_(value)


def _check_new_run_dir(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise GanforgeError(
            f"run folder '{path}' already exists and is not empty; continue it with "
            f"'ganforge train --resume {path}' or choose another --out")


def load_run_config(run_dir: str | Path) -> TrainConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GanforgeError(f"run folder '{run_dir}' does not exist")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise GanforgeError(f"'{run_dir}' is not a ganforge run folder (no {CONFIG_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GanforgeError(f"'{path}' is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise GanforgeError(f"'{path}' must hold a JSON object")
    for key, value in FIELDS_ADDED_LATER.items():
        data.setdefault(key, value)
    return TrainConfig.from_dict(data, source=str(path))


# A field that a run's config.json lacks was written by a version without it: the run keeps the behaviour
# that version had, even where a preset's default changed when the field came (mlp-adam's g_noise).
FIELDS_ADDED_LATER = {"g_noise": "fresh"}


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from, so the log has no duplicates."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    atomic_write_text(path, "".join(x + "\n" for x in kept))
