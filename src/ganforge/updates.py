"""Update rules: how D's and G's updates interleave in one training step, one registered entry each.

The tutorials differ here, and the difference changes results:
- ``simultaneous``: one forward pass, G's and D's losses from the same fakes, both updated at once
  (TensorFlow's DCGAN tutorial, two GradientTapes).
- ``sum``: D step on loss(real, fake), then a G step on fresh noise (PyTorch's DCGAN example).
- ``concat``: D step on the real and fake batches concatenated (one D pass, mean over 2B), then G.
- ``separate``: one D step on the real batch, another on the fake batch, then G (Keras
  ``train_on_batch`` twice, as the SGD tutorial).
``sum``, ``concat`` and ``separate`` take ``d_steps`` D steps per G step.

A rule is a function of a :class:`Step`, the trainer's view of one training step (the built models,
optimisers, data and noise), in the spirit of stylegan2-ada's ``accumulate_gradients(phase)``: it
computes losses, runs their backward passes and asks the step to apply each update. It returns
``(loss_g, loss_d, real_logits, fake_logits)`` for the log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from .losses import GANLoss

Tensor = torch.Tensor
Labels = Tensor | None


class Step(Protocol):
    """What an update rule may use. ``generate`` and ``discriminate`` run the networks as the losses see them
    (compiled, under autocast, D behind DiffAugment and packing when on); labels are None for unconditional
    runs; ``net`` names an optimiser, "G" or "D"."""

    loss: GANLoss
    index: int  # this training step's number
    d_steps: int
    reuse_noise: bool  # G's step reuses the last D step's noise (the Keras MLP-Adam loop)

    def real(self, d_step: int) -> tuple[Tensor, Labels]: ...
    def noise(self) -> tuple[Tensor, Labels]: ...
    def generate(self, z: Tensor, y: Labels) -> Tensor: ...
    def discriminate(self, x: Tensor, y: Labels) -> Tensor: ...
    def fakes_for_d(self, z: Tensor, y: Labels, keep_graph: bool) -> Tensor: ...
    def g_forward_shareable(self) -> bool: ...
    def penalty(self, real: Tensor, fake: Tensor, y_real: Labels, d_step: int) -> Tensor | float: ...
    def zero_grad(self, net: str) -> None: ...
    def backward_g(self, loss: Tensor, retain_graph: bool = False) -> None: ...
    def backward_d(self, loss: Tensor) -> None: ...
    def backward_both(self, loss_g: Tensor, loss_d: Tensor, fake_logits: Tensor, fake: Tensor) -> bool: ...
    def update(self, net: str, loss: Tensor) -> None: ...


Result = tuple[Tensor, Tensor, Tensor, Tensor]


@dataclass(frozen=True)
class UpdateRule:
    name: str
    description: str
    run: Callable[[Step], Result]
    takes_d_steps: bool = True  # several D steps per G step
    separate_d_halves: bool = False  # needs a loss with separate real and fake halves
    penalties: bool = True  # has a D step of its own, where the penalties go


UPDATE_RULES: dict[str, UpdateRule] = {}


def register_update(name: str, description: str, **flags: Any) -> Callable[[Callable[[Step], Result]],
                                                                            Callable[[Step], Result]]:
    def add(fn: Callable[[Step], Result]) -> Callable[[Step], Result]:
        if name in UPDATE_RULES:
            raise ValueError(f"update rule {name!r} is registered twice")
        UPDATE_RULES[name] = UpdateRule(name, description, fn, **flags)
        return fn
    return add


@register_update("simultaneous", "G and D from one forward pass, both updated at once (TF DCGAN tutorial)",
                 takes_d_steps=False, penalties=False)
def simultaneous(s: Step) -> Result:
    real, y_real = s.real(s.index)
    z, y_fake = s.noise()
    fake = s.generate(z, y_fake)
    r, f = s.discriminate(real, y_real), s.discriminate(fake, y_fake)
    lg = s.loss.g(r, f)
    ld = s.loss.d(r, f)
    s.zero_grad("G")
    s.zero_grad("D")
    if not s.backward_both(lg, ld, f, fake):
        s.backward_g(lg, retain_graph=True)
        s.backward_d(ld)
    s.update("G", lg)
    s.update("D", ld)
    return lg, ld, r, f


def _g_step(s: Step, real: Tensor, y_real: Labels, fake_g: Tensor, z: Tensor, y: Labels, shared: bool) -> Tensor:
    """G's update after the D steps: on fresh noise, or on the last D step's (``reuse_noise``), through the
    D step's own G forward when recomputing it would give the same numbers (``shared``)."""
    s.zero_grad("G")
    if not s.reuse_noise:
        z, y = s.noise()
    # The shared forward is the one G would compute again: its weights have not changed since.
    f_g = s.discriminate(fake_g if shared else s.generate(z, y), y)
    r_g = s.discriminate(real, y_real) if s.loss.g_needs_real else None
    lg = s.loss.g(r_g, f_g)
    s.backward_g(lg)  # D's weights get no gradient: it is frozen for this step
    s.update("G", lg)
    return lg


def _d_steps(s: Step, d_step: Callable[[Tensor, Labels, Tensor, Labels, int], tuple[Tensor, Tensor, Tensor]]) -> Result:
    """``d_steps`` D updates (each by ``d_step``), then G's."""
    for j in range(s.d_steps):
        real, y_real = s.real(s.index * s.d_steps + j)
        shared = s.reuse_noise and j == s.d_steps - 1 and s.g_forward_shareable()
        z, y_fake = s.noise()
        fake_g = s.fakes_for_d(z, y_fake, shared)
        ld, r, f = d_step(real, y_real, fake_g.detach(), y_fake, s.index * s.d_steps + j)
    lg = _g_step(s, real, y_real, fake_g, z, y_fake, shared)
    return lg, ld, r, f


@register_update("sum", "D on loss(real) + loss(fake), then G on fresh noise (PyTorch's DCGAN example)")
def sum_(s: Step) -> Result:
    def d_step(real: Tensor, y_real: Labels, fake: Tensor, y_fake: Labels, k: int) -> tuple[Tensor, Tensor, Tensor]:
        s.zero_grad("D")
        r, f = s.discriminate(real, y_real), s.discriminate(fake, y_fake)
        ld = s.loss.d(r, f)
        (ld + s.penalty(real, fake, y_real, k)).backward()
        s.update("D", ld)
        return ld, r, f

    return _d_steps(s, d_step)


@register_update("concat", "D on the real and fake batches concatenated (one pass, mean over 2B), then G")
def concat(s: Step) -> Result:
    def d_step(real: Tensor, y_real: Labels, fake: Tensor, y_fake: Labels, k: int) -> tuple[Tensor, Tensor, Tensor]:
        s.zero_grad("D")
        y_both = None if y_real is None else torch.cat([y_real, y_fake])
        # Halves of the logits, not of the images: with packing D gives b/m logits per half.
        r, f = s.discriminate(torch.cat([real, fake]), y_both).chunk(2)
        ld = 0.5 * s.loss.d(r, f)
        (ld + s.penalty(real, fake, y_real, k)).backward()
        s.update("D", ld)
        return ld, r, f

    return _d_steps(s, d_step)


@register_update("separate", "D on the real batch, then on the fake batch, then G (Keras train_on_batch twice)",
                 separate_d_halves=True)
def separate(s: Step) -> Result:
    def d_step(real: Tensor, y_real: Labels, fake: Tensor, y_fake: Labels, k: int) -> tuple[Tensor, Tensor, Tensor]:
        s.zero_grad("D")
        r = s.discriminate(real, y_real)
        l_real = s.loss.d_real(r)  # type: ignore[attr-defined]  # separable losses only (checked by the config)
        (l_real + s.penalty(real, fake, y_real, k)).backward()
        s.update("D", l_real)
        s.zero_grad("D")
        f = s.discriminate(fake, y_fake)
        l_fake = s.loss.d_fake(f)  # type: ignore[attr-defined]
        l_fake.backward()
        s.update("D", l_fake)
        return 0.5 * (l_real.detach() + l_fake.detach()), r, f  # what Keras' loop reports

    return _d_steps(s, d_step)
