"""The Keras dropout's uniform numbers drawn on two threads for large CPU tensors.

torch's CPU generator is one serial Mersenne twister, and dcgan-28's dropout masks, 9.6 million numbers
a step, took 6% of the step on one core. A large tensor is drawn in two halves at once, each from its
own generator seeded from the global one, so runs stay reproducible and resume from the global RNG
state. The numbers are as uniform as ``torch.rand_like``'s but not the same ones: this is another random
stream for tensors of ``PARALLEL_RNG_MIN`` numbers or more (smaller ones are ``rand_like``'s own), and a
run resumes exactly only with the setting it started with.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

from ..models.layers import Dropout

PARALLEL_RNG_MIN = 1 << 20  # elements from which two threads draw a CPU tensor's random numbers
_rng_thread: ThreadPoolExecutor | None = None  # made on the first large draw, so importing starts no thread


def uniform_like(x: torch.Tensor) -> torch.Tensor:
    """``torch.rand_like(x)``; on a CPU with several threads, a large tensor is drawn in two halves at
    once, each from its own generator seeded from the global one."""
    global _rng_thread
    n = x.numel()
    if x.device.type != "cpu" or n < PARALLEL_RNG_MIN or torch.get_num_threads() < 2:
        return torch.rand_like(x)
    if _rng_thread is None:
        _rng_thread = ThreadPoolExecutor(1, thread_name_prefix="ganforge-rng")
    out = torch.empty_like(x)
    flat = out.as_strided((n,), (1,))  # empty_like is dense: these are all of its elements, in memory order
    seed_a, seed_b = torch.randint(0, 2**62, (2,)).tolist()
    half = n // 2
    other = _rng_thread.submit(flat[half:].uniform_, generator=torch.Generator().manual_seed(seed_b))
    flat[:half].uniform_(generator=torch.Generator().manual_seed(seed_a))
    other.result()
    return out


def eligible(layer: nn.Module) -> bool:
    """The Keras dropout (``nn.Dropout`` draws Bernoulli numbers, another stream this does not replace)."""
    return isinstance(layer, Dropout)


class FastDropout(Dropout):
    """The Keras dropout with its uniform numbers from ``uniform_like``.
    ``ganforge.accel.apply`` gives an eligible layer this class; it is never built directly."""

    def _uniform(self, x: torch.Tensor) -> torch.Tensor:
        return uniform_like(x)
