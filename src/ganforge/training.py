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

from .checkpoint import Checkpoint, save_checkpoint
from .config import TrainConfig
from .data import ImageDataset, load_dataset
from .errors import GanforgeError
from .fileio import atomic_write_text
from .images import save_grid, to_uint8
from .losses import LOSSES, GANLoss
from .models.layers import init_weights
from .presets import Preset, get_preset

CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
LAST_CHECKPOINT = "checkpoints/last.safetensors"
BEST_CHECKPOINT = "checkpoints/best.safetensors"


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
    init_weights(g, cfg.init or "torch")
    init_weights(d, cfg.init or "torch")
    return g, d


def build_optimizer(cfg: TrainConfig, params: Any, lr: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum or 0.0)
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas or (0.9, 0.999)))


def default_run_dir(cfg: TrainConfig) -> Path:
    dataset = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(cfg.dataset.removeprefix("folder:")).name or cfg.dataset)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.preset}-{dataset}-{stamp}"


class BatchSampler:
    """Shuffled batches by index from one uint8 tensor on the device.

    The order of epoch ``e`` is a permutation seeded by (seed, e), so the batch for any step is a
    pure function of the step: nothing to save, and a resume sees exactly the batches it would have.
    The last incomplete batch of an epoch is dropped so every step has the same shape.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int) -> None:
        self.images, self.batch_size, self.seed = images, batch_size, seed
        self.per_epoch = images.shape[0] // batch_size
        self._epoch, self._perm = -1, torch.empty(0)

    def batch(self, index: int) -> torch.Tensor:
        epoch, pos = divmod(index, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.images.shape[0], generator=gen).to(self.images.device)
            self._epoch = epoch
        idx = self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]
        # uint8 [0, 255] -> float [-1, 1] on the device
        return self.images.index_select(0, idx).float().div_(127.5).sub_(1.0)


class Trainer:
    """Train a preset. ``Trainer(config).train()`` starts a run; ``Trainer.resume(dir, steps=...)``
    carries one on to a new total."""

    def __init__(self, config: TrainConfig, *, run_dir: str | Path | None = None,
                 log: Callable[[str], None] = print, _resume_from: Checkpoint | None = None) -> None:
        self.log = log
        self.cfg = config.resolved()
        if self.cfg.data_dir:  # recorded absolute, so eval and resume work from any folder
            self.cfg.data_dir = str(Path(self.cfg.data_dir).expanduser().resolve())
        self.preset = get_preset(self.cfg.preset)
        self.loss: GANLoss = LOSSES[self.cfg.loss or "bce"]
        self.device = resolve_device(self.cfg.device)
        explicit_dir = run_dir or self.cfg.out
        if explicit_dir and _resume_from is None:
            _check_new_run_dir(Path(explicit_dir))  # before the dataset loads: fail fast

        c, h, _ = self.preset.image_shape
        self.dataset: ImageDataset = load_dataset(
            self.cfg.dataset, data_dir=self.cfg.data_dir, channels=c, size=h, log=self.log)
        self.cfg.dataset = self.dataset.name  # e.g. the mnist-sample fallback: record what was used
        # Named after the data actually used (the fallback, too).
        self.run_dir = Path(explicit_dir or default_run_dir(self.cfg))
        if _resume_from is None:
            _check_new_run_dir(self.run_dir)
        n = self.dataset.images.shape[0]
        if n < self.cfg.batch_size:
            raise GanforgeError(
                f"batch size {self.cfg.batch_size} is larger than dataset '{self.dataset.name}' ({n} images)")
        self.sampler = BatchSampler(self.dataset.images.to(self.device), self.cfg.batch_size, self.cfg.seed)
        d_steps = self.cfg.d_steps or 1
        # The run length in steps; with --epochs it follows from the dataset size.
        self.total_steps: int = self.cfg.steps or math.ceil(self.cfg.epochs * self.sampler.per_epoch / d_steps)
        if self.cfg.grid_every is None:
            self.cfg.grid_every = max(1, self.total_steps // 10)
        if self.cfg.checkpoint_every is None:
            self.cfg.checkpoint_every = self.cfg.grid_every

        torch.manual_seed(self.cfg.seed)
        self.G, self.D = (m.to(self.device) for m in build_models(self.cfg, self.preset))
        self.G.train()
        self.D.train()
        self.opt_g = build_optimizer(self.cfg, self.G.parameters(), self.cfg.lr_g)
        self.opt_d = build_optimizer(self.cfg, self.D.parameters(), self.cfg.lr_d)
        self.g_params = [p for p in self.G.parameters() if p.requires_grad]
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]
        # The EMA of G's weights (Karras et al.): smoother samples; used for grids and sampling when on.
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if self.cfg.ema_kimg else None
        self.noise = torch.Generator(device=self.device).manual_seed(self.cfg.seed + 1)
        fixed = torch.Generator().manual_seed(self.cfg.seed + 2)
        self.fixed_z = torch.randn(self.cfg.grid_size ** 2, self.cfg.z_dim, generator=fixed).to(self.device)
        self.evaluator = None
        if self.cfg.eval_every:
            from .metrics.training import make_training_evaluator

            self.evaluator = make_training_evaluator(
                self.cfg.eval_metric, dataset=self.cfg.dataset, data_dir=self.cfg.data_dir, device=self.device,
                n=self.cfg.eval_n, image_shape=self.preset.image_shape, seed=self.cfg.seed, log=self.log)
        self.best: float | None = None  # best value of the eval metric so far
        self.last_eval: dict[str, float] = {}
        self.step = 0
        if _resume_from is not None:
            self._load(_resume_from)
        self._stop_signal: int | None = None

    # ---- construction from a run folder ------------------------------------------------------

    @classmethod
    def resume(cls, run_dir: str | Path, *, steps: int | None = None, epochs: int | None = None,
               device: str | None = None, progress: bool | None = None,
               log: Callable[[str], None] = print) -> Trainer:
        run_dir = Path(run_dir)
        cfg = load_run_config(run_dir)
        ckpt = Checkpoint(run_dir / LAST_CHECKPOINT)
        if steps is not None and epochs is not None:
            raise GanforgeError(f"give steps or epochs, not both (got steps={steps}, epochs={epochs})")
        if steps is not None or epochs is not None:
            cfg.steps, cfg.epochs = steps, epochs
        if device is not None:
            cfg.device = device
        if progress is not None:
            cfg.progress = progress
        return cls(cfg, run_dir=run_dir, log=log, _resume_from=ckpt)

    def _load(self, ckpt: Checkpoint) -> None:
        ckpt.load_module("G", self.G)
        if self.G_ema is not None:
            ckpt.load_module("G_ema", self.G_ema)
        ckpt.load_module("D", self.D)
        ckpt.load_optimizer("opt_g", self.opt_g)
        ckpt.load_optimizer("opt_d", self.opt_d)
        self.step = int(ckpt.meta.get("step", 0))
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
        _truncate_log(self.run_dir / LOG_FILE, self.step)

    # ---- one step ------------------------------------------------------------------------------

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, device=self.device, generator=self.noise)

    def _fakes_for_d(self, n: int) -> torch.Tensor:
        with torch.no_grad():
            if self.cfg.g_eval_for_d:  # Keras predict(): BatchNorm uses its moving statistics
                self.G.eval()
                fake = self.G(self._z(n))
                self.G.train()
                return fake
            return self.G(self._z(n))

    def train_step(self) -> torch.Tensor:
        """One G update (and ``d_steps`` D updates). Returns [loss_g, loss_d, D(x), D(G(z))] on the
        device, without synchronising."""
        cfg, loss, G, D = self.cfg, self.loss, self.G, self.D
        b = cfg.batch_size
        if cfg.d_update == "simultaneous":
            real = self.sampler.batch(self.step)
            fake = G(self._z(b))
            r, f = D(real), D(fake)
            lg = loss.g(f)
            ld = loss.d_real(r) + loss.d_fake(f)
            self.opt_g.zero_grad(set_to_none=True)
            self.opt_d.zero_grad(set_to_none=True)
            lg.backward(inputs=self.g_params, retain_graph=True)
            ld.backward(inputs=self.d_params)
            self.opt_g.step()
            self.opt_d.step()
            self._update_ema()
            return self._stats(lg, ld, r, f)

        d_steps = cfg.d_steps or 1
        for j in range(d_steps):
            real = self.sampler.batch(self.step * d_steps + j)
            fake = self._fakes_for_d(b)
            if cfg.d_update == "separate":
                self.opt_d.zero_grad(set_to_none=True)
                r = D(real)
                l_real = loss.d_real(r)
                l_real.backward()
                self.opt_d.step()
                self.opt_d.zero_grad(set_to_none=True)
                f = D(fake)
                l_fake = loss.d_fake(f)
                l_fake.backward()
                self.opt_d.step()
                ld = 0.5 * (l_real.detach() + l_fake.detach())  # what Keras' loop reports
            else:
                self.opt_d.zero_grad(set_to_none=True)
                if cfg.d_update == "concat":
                    r, f = D(torch.cat([real, fake])).split(b)
                    ld = 0.5 * (loss.d_real(r) + loss.d_fake(f))
                else:
                    r, f = D(real), D(fake)
                    ld = loss.d_real(r) + loss.d_fake(f)
                ld.backward()
                self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        f_g = D(G(self._z(b)))
        lg = loss.g(f_g)
        lg.backward(inputs=self.g_params)  # D's weights get no gradient: it is frozen for this step
        self.opt_g.step()
        self._update_ema()
        return self._stats(lg, ld, r, f)

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
        cfg, total = self.cfg, self.total_steps
        if self.step >= total:
            raise GanforgeError(
                f"run '{self.run_dir}' is already at step {self.step}; "
                f"ask for more steps (e.g. --steps {2 * self.step})")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run_dir / CONFIG_FILE, cfg.to_json())
        if self.step == 0:
            self.log(f"training {cfg.preset} on {self.dataset.name} ({self.dataset.images.shape[0]} images, "
                     f"{self.dataset.source}) for {total} steps of {cfg.batch_size} on {self.device}; "
                     f"run folder: {self.run_dir}")
            self.save_grid(self.run_dir / "grids" / "step_000000.png")
        else:
            self.log(f"resuming {self.run_dir} at step {self.step} of {total}")

        acc = torch.zeros(4, device=self.device)
        n_acc, t_log, step_log = 0, time.perf_counter(), self.step
        t_start, start_step = t_log, self.step
        # A redirected stderr gets a line every 30 s instead of a redraw every 0.1 s.
        bar = tqdm(total=total, initial=self.step, disable=not cfg.progress, unit="step", dynamic_ncols=True,
                   leave=True, mininterval=0.5 if sys.stderr.isatty() else 30.0)
        old_handlers = self._install_signal_handlers()
        try:
            with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as logf:
                while self.step < total:
                    acc += self.train_step()
                    n_acc += 1
                    self.step += 1
                    bar.update(1)
                    last = self.step == total
                    if self.step % cfg.log_every == 0 or last:
                        now = time.perf_counter()
                        lg, ld, dx, dgz = (acc / n_acc).tolist()  # the one sync per log interval
                        ips = (self.step - step_log) * cfg.batch_size / max(now - t_log, 1e-9)
                        rec = {"step": self.step, "epoch": round(self.step * (cfg.d_steps or 1)
                                                                 / self.sampler.per_epoch, 4),
                               "images": self.step * cfg.batch_size, "time": round(now - t_start, 3),
                               "images_per_sec": round(ips, 1), "loss_g": lg, "loss_d": ld,
                               "d_real": dx, "d_fake": dgz}
                        logf.write(json.dumps(rec) + "\n")
                        logf.flush()
                        bar.set_postfix_str(f"{ips:,.0f} img/s  G {lg:.3f}  D {ld:.3f}  "
                                            f"D(x) {dx:.2f}  D(G(z)) {dgz:.2f}", refresh=False)
                        acc.zero_()
                        n_acc, t_log, step_log = 0, now, self.step
                    if self.step % cfg.grid_every == 0 or last:
                        self.save_grid(self.run_dir / "grids" / f"step_{self.step:06d}.png")
                    evaluated = self.evaluator is not None and (self.step % cfg.eval_every == 0 or last)
                    if evaluated:
                        self.evaluate(logf, time.perf_counter() - t_start)
                    if self.step % cfg.checkpoint_every == 0 or last or evaluated:
                        self.save_checkpoint()
                    if self._stop_signal is not None:
                        self.save_checkpoint()
                        break
        finally:
            bar.close()
            self._restore_signal_handlers(old_handlers)
        if self._stop_signal is not None:
            name = signal.Signals(self._stop_signal).name
            self.log(f"stopped by {name} at step {self.step}; checkpoint saved. "
                     f"Continue with: ganforge train --resume {self.run_dir}")
            raise KeyboardInterrupt
        self.save_grid(self.run_dir / "final_grid.png", caption=self.last_eval)
        from .plotting import plot_losses

        plot_losses(self.run_dir / LOG_FILE, self.run_dir / "losses.png")
        secs = time.perf_counter() - t_start
        if self.last_eval:
            values = ", ".join(f"{k} {v:.4g}" for k, v in self.last_eval.items())
            self.log(f"{self.evaluator.name} at step {self.step}: {values} (best {self.evaluator.key} {self.best:.4g}, "
                     f"checkpoint {self.run_dir / BEST_CHECKPOINT})")
        self.log(f"done: {self.step - start_step} steps in {secs:.1f} s "
                 f"({(self.step - start_step) * cfg.batch_size / max(secs, 1e-9):,.0f} images/s). "
                 f"Samples: {self.run_dir / 'final_grid.png'}; more with: ganforge sample {self.run_dir}")
        return self.run_dir

    # ---- outputs -------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """uint8 images from the sampling generator (the EMA when on, else G in inference mode)."""
        if self.G_ema is not None:
            return to_uint8(self.G_ema(z))
        was_training = self.G.training
        self.G.eval()
        images = to_uint8(self.G(z))
        self.G.train(was_training)
        return images

    def save_grid(self, path: Path, caption: dict[str, float] | None = None) -> None:
        text = {"step": str(self.step), **{k: f"{v:.6g}" for k, v in (caption or {}).items()}}
        save_grid(self.generate(self.fixed_z), path, nrow=self.cfg.grid_size, text=text)

    def evaluate(self, logf: Any, elapsed: float) -> None:
        """Run the training metric on fresh samples (their own seeded noise: training RNG untouched)."""
        def generate(n: int, seed: int) -> torch.Tensor:
            z = torch.randn(n, self.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
            return torch.cat([self.generate(c.to(self.device)).cpu() for c in z.split(500)])

        values = self.evaluator(generate)
        self.last_eval = values
        logf.write(json.dumps({"step": self.step, "time": round(elapsed, 3), "metric": self.evaluator.name,
                               **values}) + "\n")
        logf.flush()
        value = values[self.evaluator.key]
        better = self.best is None or (value < self.best if self.evaluator.lower_is_better else value > self.best)
        if better:
            self.best = value
            self.save_checkpoint(self.run_dir / BEST_CHECKPOINT)

    def save_checkpoint(self, path: Path | None = None) -> None:
        rng = {"torch": torch.get_rng_state(), "noise": self.noise.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {"step": self.step, "preset": self.cfg.preset, "dataset": self.cfg.dataset,
                "image_shape": list(self.preset.image_shape), "z_dim": self.cfg.z_dim,
                "config": self.cfg.to_dict(), "best": self.best, "last_eval": self.last_eval}
        save_checkpoint(path or self.run_dir / LAST_CHECKPOINT,
                        modules={"G": self.G, "D": self.D, **({"G_ema": self.G_ema} if self.G_ema is not None else {})},
                        optimizers={"opt_g": self.opt_g, "opt_d": self.opt_d}, rng=rng, meta=meta)

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
    return TrainConfig.from_dict(data, source=str(path))


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
