"""One training step over the built objects: what an update rule (``ganforge.updates``) works with.

:class:`GANStep` holds G, D, their optimisers, the EMA of G, the loss, the penalties, the batches and the
noise stream, and offers the rule the :class:`~ganforge.updates.Step` interface. Each call runs one step:
the learning rate for it, the rule, the EMA update, and the step's statistics for the log, on the device
without a sync. Its ``modules``, ``optimizers`` and ``rng_state`` are what a checkpoint saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..augment import diff_augment
from ..checkpoint import Checkpoint
from ..config import RunConfig
from ..errors import GanforgeError
from ..guard import flag_nonfinite, step_unless_flagged
from ..losses import GANLoss
from ..models.clusters import draw_clusters
from ..models.conditional import call
from ..pacgan import pack
from ..penalties import Penalty, PenaltyInputs, d_penalty
from ..schedule import lr_factor
from ..updates import UpdateRule
from .distributed import Context, average_gradients
from .sampler import Sampler

Tensor = torch.Tensor
Labels = Tensor | None


class GANStep:
    """See the module docstring. ``G_run`` and ``D_run`` are what the losses call: the same modules, compiled
    and under autocast when asked for; ``backward_pair`` is the accelerated backward of a simultaneous
    step (``accel``), or None."""

    def __init__(self, cfg: RunConfig, *, G: nn.Module, D: nn.Module, G_run: Callable[..., Tensor],
                 D_run: Callable[..., Tensor], G_ema: nn.Module | None, opt_g: torch.optim.Optimizer,
                 opt_d: torch.optim.Optimizer, loss: GANLoss, rule: UpdateRule, penalties: list[Penalty],
                 sampler: Sampler, augment: tuple[str, ...], noise: torch.Generator, ctx: Context,
                 device: torch.device, backward_pair: Callable[..., bool] | None) -> None:
        self.cfg, self.G, self.D, self.G_run, self.D_run, self.G_ema = cfg, G, D, G_run, D_run, G_ema
        self.opt = {"G": opt_g, "D": opt_d}
        self.loss, self.rule, self.penalties, self.sampler, self.augment = loss, rule, penalties, sampler, augment
        self.noise_gen, self.ctx, self.device, self.backward_pair = noise, ctx, device, backward_pair
        self.params = {"G": [p for p in G.parameters() if p.requires_grad],
                       "D": [p for p in D.parameters() if p.requires_grad]}
        self.batch = cfg.batch_size // ctx.world  # this process's share of the batch
        self.d_steps, self.reuse_noise = cfg.d_steps, cfg.g_noise in ("reuse", "same")
        self.index = 0
        # a self-conditioned run's cluster shares, on the device once rather than copied there every step
        self.cluster_weights = (torch.tensor(cfg.cluster_shares, dtype=torch.float32, device=device)
                                if cfg.cluster_shares else None)
        # With g_noise "reuse", the D step's G forward serves the G step too when recomputing it would
        # give the same numbers: no BatchNorm statistics, spectral-norm vectors (buffers) or dropout. With
        # "same" it always does: G's statistics move once per step, as in PyTorch's DCGAN example.
        self._g_shareable = cfg.g_noise == "same" or (not any(True for _ in G.buffers())
                                                      and not any(isinstance(m, nn.Dropout) for m in G.modules()))
        # Divergence guard: 1 when the update in progress has a non-finite loss or gradient.
        self._found_inf = torch.zeros((), device=device)
        self.step_bad = torch.zeros((), device=device)  # this step had a skipped update
        self.bad_streak = torch.zeros((), device=device)  # bad steps in a row
        self.bad_total = torch.zeros((), device=device)
        self._one = torch.ones((), device=device)

    # ---- one step ----------------------------------------------------------------------------------------

    def __call__(self, index: int) -> Tensor:
        """Train step ``index``: returns [loss_g, loss_d, D(x), D(G(z))] on the device, without a sync."""
        self.index = index
        self._set_lr()
        lg, ld, r, f = self.rule.run(self)
        self._update_ema()
        bad = self.step_bad
        self.bad_total.add_(bad)
        self.bad_streak.add_(bad).mul_(bad)  # +1 on a bad step, back to 0 on a good one
        bad.zero_()
        with torch.no_grad():
            if self.loss.probabilistic:
                r, f = torch.sigmoid(r), torch.sigmoid(f)
            return torch.stack([lg.detach(), ld.detach(), r.float().mean(), f.float().mean()])

    # ---- the Step interface of update rules ----------------------------------------------------------------

    def real(self, d_step: int) -> tuple[Tensor, Labels]:
        return self.sampler.labelled_batch(d_step)

    def noise(self) -> tuple[Tensor, Labels]:
        """Latents, then class labels uniform over the classes (clusters in their shares; None for an
        unconditional run). Every process draws the global batch's numbers and keeps its slice: the same
        numbers as one process would use."""
        n, world, rank = self.batch, self.ctx.world, self.ctx.rank
        z = torch.randn(n * world, self.cfg.z_dim, device=self.device, generator=self.noise_gen)
        y = None
        if self.cluster_weights is not None:  # self-conditioned: clusters as often as the real images fall in them
            y = draw_clusters(self.cluster_weights, n * world, device=self.device, generator=self.noise_gen)
        elif self.cfg.num_classes:
            y = torch.randint(self.cfg.num_classes, (n * world,), device=self.device, generator=self.noise_gen)
        if self.ctx.enabled:
            z, y = z[rank * n:(rank + 1) * n], None if y is None else y[rank * n:(rank + 1) * n]
        return z, y

    def generate(self, z: Tensor, y: Labels) -> Tensor:
        return call(self.G_run, z, y)

    def discriminate(self, x: Tensor, y: Labels) -> Tensor:
        return call(self._d_view(), x, y)

    def fakes_for_d(self, z: Tensor, y: Labels, keep_graph: bool) -> Tensor:
        """Fakes for a D step. ``keep_graph``: G's forward is recorded, so the G step can train on these very
        fakes (only for a G whose forward does not depend on its mode)."""
        if keep_graph:
            return call(self.G_run, z, y)
        with torch.no_grad():
            if self.cfg.g_eval_for_d:  # Keras predict(): BatchNorm uses its moving statistics
                self.G.eval()
                fake = call(self.G_run, z, y)
                self.G.train()
                return fake
            return call(self.G_run, z, y)

    def g_forward_shareable(self) -> bool:
        return self._g_shareable

    def penalty(self, real: Tensor, fake: Tensor, y_real: Labels, d_step: int) -> Tensor | float:
        """The penalties' share of D's loss in one D step; they see the uncompiled D (compiled graphs have no
        double backward) at the real labels, also at the points between real and fake."""
        d_eager = self._d_view(eager=True)
        d = d_eager if y_real is None else (lambda x, y=y_real, d=d_eager: d(x, y))
        return d_penalty(self.penalties, PenaltyInputs(self.cfg, d, real, fake, d_step, self.noise_gen))

    def zero_grad(self, net: str) -> None:
        self.opt[net].zero_grad(set_to_none=True)

    def backward_g(self, loss: Tensor, retain_graph: bool = False) -> None:
        loss.backward(inputs=self.params["G"], retain_graph=retain_graph)

    def backward_d(self, loss: Tensor) -> None:
        loss.backward(inputs=self.params["D"])

    def backward_both(self, loss_g: Tensor, loss_d: Tensor, fake_logits: Tensor, fake: Tensor) -> bool:
        if self.backward_pair is None:
            return False
        return self.backward_pair(loss_g, loss_d, fake_logits, fake, self.params["G"], self.params["D"])

    def update(self, net: str, loss: Tensor) -> None:
        """The optimiser step with the gradients averaged over the processes, unless the loss or a gradient
        is NaN or Inf (the divergence guard): then the update is skipped and counted, without a sync."""
        params = self.params[net]
        average_gradients(params, self.ctx, loss)
        flag_nonfinite(loss, [p.grad for p in params if p.grad is not None], self._found_inf, self._one)
        torch.maximum(self.step_bad, self._found_inf, out=self.step_bad)
        step_unless_flagged(self.opt[net], self._found_inf)

    # ---- around the rule -----------------------------------------------------------------------------------

    def _d_view(self, eager: bool = False) -> Callable[..., Tensor]:
        """D behind DiffAugment when it is on (real and fake alike, every step), then PacGAN packing when on
        (after DiffAugment, so each image gets its own transform)."""
        d = self.D if eager else self.D_run
        m = self.cfg.pack
        if not self.augment and m == 1:
            return d

        def view(x: Tensor, *args: Any, **kw: Any) -> Tensor:
            if self.augment:
                x = diff_augment(x, self.augment, self.noise_gen)
            return d(pack(x, m), *args, **kw)  # a reshape: the penalties' gradients reach each image

        return view

    def _set_lr(self) -> None:
        cfg = self.cfg
        if cfg.lr_schedule == "constant":
            return
        factor = lr_factor(cfg.lr_schedule, self.index, cfg.steps, cfg.lr_decay_steps)
        for net, lr in (("G", cfg.lr_g), ("D", cfg.lr_d)):
            for group in self.opt[net].param_groups:
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
        images = (self.index + 1) * self.cfg.batch_size
        halflife = min(self.cfg.ema_kimg * 1000, images * 0.05)
        beta = 0.5 ** (self.cfg.batch_size / max(halflife, 1e-8))
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1.0 - beta)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    # ---- what a checkpoint holds ---------------------------------------------------------------------------

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D, **({"G_ema": self.G_ema} if self.G_ema is not None else {})}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt["G"], "opt_d": self.opt["D"]}

    def rng_state(self) -> dict[str, Tensor]:
        rng = {"torch": torch.get_rng_state(), "noise": self.noise_gen.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def restore(self, ckpt: Checkpoint, log: Callable[[str], None]) -> int:
        """Networks, optimisers and random streams as the checkpoint holds them; returns its step."""
        for name, module in self.modules().items():
            ckpt.load_module(name, module)
        for name, opt in self.optimizers().items():
            ckpt.load_optimizer(name, opt)
            _match_param_layout(opt)
        step = int(ckpt.meta.get("step", 0))
        rng = ckpt.tensors("rng")  # one read of the file for every RNG state
        for name in ("torch", "noise"):
            if name not in rng:
                raise GanforgeError(f"checkpoint '{ckpt.path}' lacks the '{name}' RNG state; cannot resume exactly")
        torch.set_rng_state(rng["torch"])
        if rng["noise"].numel() == self.noise_gen.get_state().numel():
            self.noise_gen.set_state(rng["noise"])
        else:  # a run moved between CPU and GPU: the generators differ, so reseed from the step
            log("note: resuming on another device kind; noise continues from a new stream")
            self.noise_gen.manual_seed(self.cfg.seed + 1 + step)
        if rng.get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        if self.ctx.enabled:  # dropout masks etc.: each process its own stream
            torch.manual_seed(self.cfg.seed * 1_000_003 + step * 1009 + self.ctx.rank)
        return step


def _match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimiser state the memory layout of its parameter (channels_last ones included):
    fused optimisers walk parameter and state in memory order and assume they match."""
    for p, state in opt.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                state[key] = torch.empty_like(p).copy_(value)
