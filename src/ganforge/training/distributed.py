"""Data-parallel training on torch.distributed, started by ``torchrun``.

Each process trains on its shard of every global batch; after each backward pass the gradients are
averaged with one all-reduce over a flat buffer (as StyleGAN2-ADA does), so every process applies
the same update and the weights stay identical. BatchNorm statistics are synchronised over the
processes, so N processes with a global batch B compute what one process computes with batch B.

Why not the ``DistributedDataParallel`` wrapper: a GAN step runs D several times before one backward
(real and fake batches, regularisers) and backpropagates through a frozen D into G; DDP's per-parameter
hooks expect one forward per backward and every parameter to get a gradient. Averaging explicitly
after backward is the same arithmetic as DDP's, without those constraints.

NCCL on GPUs, gloo on the CPU. One process is the main one (rank 0): only it logs, draws grids,
evaluates and writes checkpoints.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import GanforgeError


@dataclass(frozen=True)
class Context:
    """Where this process sits: ``world`` processes in all, this one is ``rank``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = Context()


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment (a single process
    otherwise); returns this process's place and its device (``cuda:LOCAL_RANK`` on GPUs)."""
    if not launched_by_torchrun():
        return SINGLE, device
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise GanforgeError(f"RANK={os.environ['RANK']!r} and WORLD_SIZE={os.environ['WORLD_SIZE']!r} must be "
                            f"integers (they are set by torchrun)") from None
    if world == 1:
        return SINGLE, device
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=30))
    return Context(rank=rank, world=world, local_rank=local_rank), device


def broadcast_string(value: str, ctx: Context) -> str:
    """Rank 0's ``value`` on every process (e.g. a run folder named after the time)."""
    if not ctx.enabled:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])


def shutdown(ctx: Context) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def average_gradients(params: Iterable[nn.Parameter], ctx: Context, loss: torch.Tensor | None = None) -> None:
    """Average the gradients of ``params`` over all processes (one all-reduce of a flat buffer).

    ``loss`` rides along in the same buffer, so a NaN or Inf loss on any process makes every process's
    gradients non-finite and the divergence guard skips the step everywhere alike.
    """
    if not ctx.enabled:
        return
    params = [p for p in params if p.grad is not None]
    parts = [p.grad.reshape(-1) for p in params]
    if loss is not None:
        parts.append((loss.detach() * 0).reshape(1).to(parts[0].dtype if parts else torch.float32))
    flat = torch.cat(parts)
    dist.all_reduce(flat)
    flat.div_(ctx.world)
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
        offset += n
    if loss is not None and params:
        params[0].grad.add_(flat[offset])  # +0, or +NaN when some process's loss was not finite


def _flag(value: int) -> torch.Tensor:
    # NCCL reduces CUDA tensors only; gloo, CPU ones.
    on_gpu = dist.get_backend() == "nccl"
    return torch.tensor([value], dtype=torch.int32, device="cuda" if on_gpu else "cpu")


def any_true(flag: bool, ctx: Context) -> bool:
    """``flag`` or-ed over the processes (used to agree on stopping at the same step). Synchronises."""
    if not ctx.enabled:
        return flag
    t = _flag(1 if flag else 0)
    dist.all_reduce(t)
    return int(t.item()) > 0


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


class _AllReduceSum(torch.autograd.Function):
    """Sum over the processes, differentiable: every process's output depends on every input, so
    the gradient is the sum of the processes' output gradients."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class ProcessGroupBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose batch statistics are computed over every process's batch.

    ``nn.SyncBatchNorm`` does this on GPUs only; this version uses a differentiable all-reduce and so
    runs on the CPU (gloo) too. Same parameters and buffers as the BatchNorm it replaces, so
    checkpoints do not change.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dims), x.pow(2).sum(dims), count])
        stats = _AllReduceSum.apply(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean.pow(2)).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1), m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm in ``module`` by one with statistics over all processes (in place)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, ProcessGroupBatchNorm):
            new = ProcessGroupBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                        child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new.to(next(child.buffers(), torch.empty(0)).device))
        else:
            sync_batchnorm(child, device)
    return module
