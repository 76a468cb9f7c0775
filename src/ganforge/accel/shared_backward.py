"""One backward pass through D for both losses of a simultaneous step (the TensorFlow DCGAN
tutorial's two GradientTapes, ``d_update = "simultaneous"``).

There G's loss and D's fake half both read the same logits ``f = D(fake)``. When D treats each
sample on its own, the gradient of either loss with respect to fake image i is D's input Jacobian
for that image times the loss's gradient at ``f_i``: ``a_i = dL_G/df_i`` for G, ``b_i = dL_D/df_i``
for D. So ``dL_G/dx_i = (a_i / b_i) * dL_D/dx_i``: one backward of D's loss gives D's weight
gradients and, scaled per sample, what G's backward needs. The backward through D on the fakes runs
once instead of twice: dcgan-28 trains 1.08x as fast in fp32 on a 2-core CPU.

The result is the same maths. Scaling by a constant commutes with every linear step of a backward
up to one rounding, so the gradients differ from two separate passes by float rounding only, as long
as nothing underflows. A step where some ``b_i`` is tiny or zero (a saturated sigmoid, the hinge loss
past its margin) or a ratio is huge or not finite takes the two ordinary passes instead.

CPU only: deciding that needs the ratios on the host, a synchronisation per step on a GPU. The trainer
calls ``backward_both`` when its accel plan has ``shared_backward`` and ``batch_independent(D)`` holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# |b_i| at least 2^-60 and |a_i / b_i| at most 2^60: a backward scaled by b_i then stays more than 60
# binades above float32's (and bfloat16's) smallest normal number, so nothing is flushed or denormal.
MIN_D_GRAD = 2.0 ** -60
MAX_RATIO = 2.0 ** 60


def batch_independent(d: nn.Module) -> bool:
    """Whether D's logit for one sample depends on that sample alone. ganforge's discriminators mix
    the batch only through BatchNorm (a test checks this claim against every preset's D)."""
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())


def backward_both(loss_g: torch.Tensor, loss_d: torch.Tensor, logits_fake: torch.Tensor, fake: torch.Tensor,
                  g_params: Sequence[nn.Parameter], d_params: Sequence[nn.Parameter]) -> bool:
    """G's gradients of ``loss_g`` and D's of ``loss_d`` (into ``.grad``, which must be None) with one
    backward through D on ``fake``. ``logits_fake`` must be D's output on ``fake``, one logit per image.
    Returns False, having computed nothing and kept the graph, when the step must take the two
    ordinary passes: then the caller does."""
    if logits_fake.numel() != fake.shape[0]:
        return False
    a, = torch.autograd.grad(loss_g, logits_fake, retain_graph=True)
    b, = torch.autograd.grad(loss_d, logits_fake, retain_graph=True)
    ratio = a / b
    if not bool(((b.abs() >= MIN_D_GRAD) & (ratio.abs() <= MAX_RATIO)).all()):  # NaN fails too
        return False
    # Stops at ``fake``: G's part of the graph is not run, so it is still there for G's backward.
    *grads_d, grad_fake = torch.autograd.grad(loss_d, [*d_params, fake], allow_unused=True)
    for p, g in zip(d_params, grads_d):
        # The layout .backward() would give (the optimisers' fused kernels want grads like their params).
        p.grad = g if g is None or g.stride() == p.stride() else torch.empty_like(p).copy_(g)
    scale = ratio.to(grad_fake.dtype).reshape(-1, *[1] * (fake.dim() - 1))
    fake.backward(grad_fake * scale, inputs=list(g_params))
    return True
