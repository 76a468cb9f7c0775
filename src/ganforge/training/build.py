"""From a request to built objects: the complete config, the data, G and D, their optimisers, the loss,
penalties and update rule, wrapped in one :class:`~ganforge.training.step.GANStep`.

The order matters where random numbers are drawn: the models are initialised right after seeding, then the
noise stream and the fixed grid noise get generators of their own, so a run is the same every time.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import accel
from ..accel.settings import (
    compiled,
    fused_supported,
    native_bf16,
    use_channels_last,
    use_compile,
    with_precision,
)
from ..accel.shared_backward import backward_both, batch_independent
from ..augment import parse_augment
from ..config import RunConfig, TrainConfig
from ..data import ImageDataset, StreamingDataset
from ..device import resolve_device
from ..errors import GanforgeError
from ..losses import LOSSES
from ..models.clusters import draw_clusters
from ..penalties import active_penalties
from ..presets import build_models
from ..resolve import DataFacts, load_for, preview, resolve
from ..run.folder import check_new_run_dir, default_run_dir
from ..updates import UPDATE_RULES
from .distributed import Context, barrier, broadcast_string, init_from_env, sync_batchnorm
from .sampler import make_sampler
from .step import GANStep

Log = Callable[[str], None]
MAX_GRID_CLASSES = 20  # a conditional grid shows one row per class, for at most this many classes


@dataclass
class Built:
    cfg: RunConfig
    dataset: ImageDataset | StreamingDataset
    ctx: Context
    device: torch.device
    run_dir: Path
    gan: GANStep
    fixed_z: torch.Tensor
    fixed_y: torch.Tensor | None
    compile_mode: str
    accel: accel.AccelPlan


def build(request: TrainConfig, *, run_dir: str | Path | None, log: Log, resuming: bool) -> Built:
    """Everything a run needs, from ``request`` (a run's own config as a request when ``resuming``)."""
    ctx, device = init_from_env(resolve_device(request.device or "auto"))
    if not ctx.is_main:
        log = _quiet  # only the main process logs, draws grids and writes files
    explicit_dir = run_dir or request.out
    if explicit_dir and not resuming and ctx.is_main:
        check_new_run_dir(Path(explicit_dir))  # before the dataset loads: fail fast
    _check_batch(preview(request, "batch_size"), preview(request, "pack"), ctx)

    if not ctx.is_main:
        barrier(ctx)  # let the main process download the data (or decode a folder into the cache) first
    # The preset, when a folder's images choose it; a folder too big for memory comes back as a stream.
    request, dataset = load_for(request, explain=not resuming, log=log)
    if ctx.is_main:
        barrier(ctx)
    cfg = resolve(request, DataFacts.of(dataset))
    _check_batch(cfg.batch_size, cfg.pack, ctx)  # again: a preset chosen from a folder's images sets its own
    size = len(dataset) * (2 if cfg.mirror else 1)
    if size < cfg.batch_size:
        raise GanforgeError(f"batch size {cfg.batch_size} is larger than dataset '{cfg.dataset}' "
                            f"({size} images{' with their mirror images' if cfg.mirror else ''})")
    # Named after the data actually used (a fallback, too).
    run_dir = Path(explicit_dir or broadcast_string(str(default_run_dir(cfg)), ctx))
    if not resuming and ctx.is_main:
        check_new_run_dir(run_dir)

    sampler = make_sampler(dataset, cfg.batch_size, cfg.seed, device=device, labelled=bool(cfg.num_classes),
                           rank=ctx.rank, world=ctx.world, mirror=cfg.mirror)

    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    G, D = (m.to(device) for m in build_models(cfg, device))
    if ctx.enabled:  # BatchNorm over the global batch: N processes compute what one would
        G, D = sync_batchnorm(G, device), sync_batchnorm(D, device)
    if use_channels_last(cfg.channels_last, [G, D]):
        G.to(memory_format=torch.channels_last)
        D.to(memory_format=torch.channels_last)
    G.train()
    D.train()
    opt_g = _optimizer(cfg, G.parameters(), cfg.lr_g, device)
    opt_d = _optimizer(cfg, D.parameters(), cfg.lr_d, device)
    # What the step calls: the same modules, compiled and under autocast when asked for.
    if cfg.precision == "bf16" and not native_bf16(device):
        log(f"note: {device.type} has no native bf16 arithmetic (AVX512_BF16 or AMX on x86); bf16 is emulated "
            f"and slower than fp32 here")
    mode = use_compile(cfg.compile, device)
    G_run = with_precision(compiled(G, mode), cfg.precision, device)
    D_run = with_precision(compiled(D, mode), cfg.precision, device)
    # The EMA of G's weights (Karras et al.): smoother samples; used for grids and sampling when on.
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_kimg else None
    noise = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    if ctx.enabled:  # dropout masks etc.: each process its own stream (noise z is shared, then sliced)
        torch.manual_seed(cfg.seed * 1_000_003 + ctx.rank)
    augment = parse_augment(cfg.augment)  # DiffAugment draws from the noise stream
    # A simultaneous step's two losses can share one backward through D (accel.shared_backward) when D scores
    # each image on its own, seen directly (no DiffAugment, no packing); the accel plan says whether they do.
    plan = accel.plan(cfg.accel, device)
    share = plan.shared_backward and batch_independent(D) and not augment and cfg.pack == 1
    gan = GANStep(cfg, G=G, D=D, G_run=G_run, D_run=D_run, G_ema=G_ema, opt_g=opt_g, opt_d=opt_d,
                  loss=LOSSES[cfg.loss], rule=UPDATE_RULES[cfg.d_update], penalties=active_penalties(cfg),
                  sampler=sampler, augment=augment, noise=noise, ctx=ctx, device=device,
                  backward_pair=backward_both if share else None)
    fixed_z, fixed_y = _fixed_noise(cfg, device)
    return Built(cfg, dataset, ctx, device, run_dir, gan, fixed_z, fixed_y, mode, plan)


def _quiet(*_: Any) -> None:
    pass


def _check_batch(batch_size: int, pack: int, ctx: Context) -> None:
    if batch_size % ctx.world:
        raise GanforgeError(f"batch size {batch_size} (the global batch) must divide evenly among "
                            f"{ctx.world} processes; choose a multiple of {ctx.world}")
    local = batch_size // ctx.world
    if local % pack:  # real and fake halves are each local images: packs never mix them
        per_process = (f"per-process batch size {local} (batch size {batch_size} over {ctx.world} processes)"
                       if ctx.enabled else f"batch size {local}")
        raise GanforgeError(f"{per_process} is not divisible by pack {pack}; choose a batch size that is a "
                            f"multiple of {pack * ctx.world}")


def _optimizer(cfg: RunConfig, params: Any, lr: float, device: torch.device) -> torch.optim.Optimizer:
    # Fused: one kernel per step (4x faster than foreach for 3M parameters on the CPU), and it skips a
    # step on the device when told the gradients are not finite (the divergence guard), without a sync.
    fused = True if fused_supported(device) else None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, fused=fused)
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), fused=fused)


def _fixed_noise(cfg: RunConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The grid's noise, from a generator of its own: the same images-to-be at every step."""
    fixed = torch.Generator().manual_seed(cfg.seed + 2)
    z = torch.randn(cfg.grid_size ** 2, cfg.z_dim, generator=fixed).to(device)
    if cfg.cluster_shares:  # self-conditioned: an unconditional grid, its clusters drawn as sampling draws them
        return z, draw_clusters(cfg.cluster_shares, len(z), generator=fixed).to(device)
    if not cfg.num_classes:
        return z, None
    rows = min(cfg.num_classes, MAX_GRID_CLASSES)  # one row per class, the same noise down each column
    return z[:cfg.grid_size].repeat(rows, 1), torch.arange(rows, device=device).repeat_interleave(cfg.grid_size)


def nets_finite(modules: dict[str, nn.Module]) -> str | None:
    """The name of the first network whose weights or buffers hold a NaN or Inf (None when all are finite)."""
    for name, module in modules.items():
        tensors = [t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()]
        if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
            return name
    return None
