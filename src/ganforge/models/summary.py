"""A Keras-style summary of a network: its layers in call order, each one's output shape and parameters, and
the totals, as ``model.summary()`` prints them.

A layer is a module the forward pass calls that holds parameters itself or has no sub-modules: the leaves
(``Linear``, ``Conv2d``, ``ReLU``...) and a module such as conditional BatchNorm that keeps statistics of its
own beside its sub-modules. What a forward computes with functions rather than modules (``F.relu``, pooling,
a residual sum) has no row, as it has no parameters. The shapes are PyTorch's, channels first, with the batch
as None: ``(None, 256, 7, 7)`` where Keras prints ``(None, 7, 7, 256)``.

Counts follow Keras, so a tutorial preset's totals are the ones Keras prints for the original model:

- trainable: parameters that require a gradient;
- non-trainable: every other saved floating-point tensor: frozen parameters, BatchNorm's moving mean and
  variance (Keras counts them), and spectral norm's power-iteration vectors ``u`` and ``v``, which the
  power iteration updates and the optimiser never sees (Keras' ``SpectralNormalization`` likewise keeps its
  ``u`` as a non-trainable weight; it has no ``v``);
- not counted: integer state (BatchNorm's ``num_batches_tracked``) and non-persistent buffers, which are
  not weights in Keras' sense.

The summary is a dataclass (``Summary``, rows of ``LayerRow``), rendered as text (``to_text``) or as plain
data (``to_dict``) for HTML and JSON.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Shape = tuple[int | None, ...]
PARAMETRIZATIONS = "parametrizations"  # where torch.nn.utils.parametrize keeps a layer's raw weight


@dataclass(frozen=True)
class Counts:
    """Parameter counts and their size in bytes, Keras' way (see the module's docstring)."""

    trainable: int = 0
    non_trainable: int = 0
    trainable_bytes: int = 0
    non_trainable_bytes: int = 0

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    @property
    def total_bytes(self) -> int:
        return self.trainable_bytes + self.non_trainable_bytes

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.trainable + other.trainable, self.non_trainable + other.non_trainable,
                      self.trainable_bytes + other.trainable_bytes,
                      self.non_trainable_bytes + other.non_trainable_bytes)


@dataclass(frozen=True)
class LayerRow:
    name: str  # the module's path in the model ("net.0"); the model's class name for the model itself
    kind: str  # the module's class name
    output_shape: Shape | tuple[Shape, ...] | None  # batch as None; a tuple of shapes for several outputs
    counts: Counts

    @property
    def params(self) -> int:
        return self.counts.total

    @property
    def label(self) -> str:
        """``name (Type)``, as Keras' first column."""
        return f"{self.name} ({self.kind})"

    @property
    def shape_text(self) -> str:
        return format_shape(self.output_shape)


@dataclass(frozen=True)
class Summary:
    name: str
    rows: tuple[LayerRow, ...]
    counts: Counts

    @property
    def total(self) -> int:
        return self.counts.total

    @property
    def trainable(self) -> int:
        return self.counts.trainable

    @property
    def non_trainable(self) -> int:
        return self.counts.non_trainable

    def totals_lines(self) -> list[str]:
        """``Total params: 2,330,944 (8.89 MB)`` and the trainable and non-trainable lines."""
        c = self.counts
        return [f"Total params: {c.total:,} ({readable_size(c.total_bytes)})",
                f"Trainable params: {c.trainable:,} ({readable_size(c.trainable_bytes)})",
                f"Non-trainable params: {c.non_trainable:,} ({readable_size(c.non_trainable_bytes)})"]

    def to_text(self, width: int = 100) -> str:
        """The table as Keras prints it; a layer name too long for ``width`` columns is cut on the left."""
        head = ("Layer (type)", "Output Shape", "Param #")
        cells = [(r.label, r.shape_text, f"{r.params:,}") for r in self.rows]
        shape_w = max([len(head[1])] + [len(c[1]) for c in cells])
        param_w = max([len(head[2])] + [len(c[2]) for c in cells])
        name_w = max([len(head[0])] + [len(c[0]) for c in cells])
        gaps = 1 + 2 + 2  # a leading space, then two between the columns
        name_w = max(12, min(name_w, width - gaps - shape_w - param_w))
        line_w = gaps + name_w + shape_w + param_w

        def row(label: str, shape: str, params: str) -> str:
            if len(label) > name_w:
                label = ".." + label[len(label) - name_w + 2:]
            return f" {label:<{name_w}}  {shape:<{shape_w}}  {params:>{param_w}}".rstrip()

        lines = [f'Model: "{self.name}"', "_" * line_w, row(*head), "=" * line_w]
        lines += [row(*c) for c in cells]
        lines += ["=" * line_w, *self.totals_lines(), "_" * line_w]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready; a batch dimension is null) with the same rows and totals as ``to_text``."""
        def counts(c: Counts) -> dict[str, int]:
            return {"total": c.total, "trainable": c.trainable, "non_trainable": c.non_trainable}

        return {"name": self.name,
                "rows": [{"name": r.name, "type": r.kind, "output_shape": _listed(r.output_shape), **counts(r.counts)}
                         for r in self.rows],
                **counts(self.counts),
                "bytes": {"total": self.counts.total_bytes, "trainable": self.counts.trainable_bytes,
                          "non_trainable": self.counts.non_trainable_bytes}}


def _listed(shape: Shape | tuple[Shape, ...] | None) -> list | None:
    if shape is None:
        return None
    return [_listed(s) if isinstance(s, tuple) else s for s in shape]


def format_shape(shape: Shape | tuple[Shape, ...] | None) -> str:
    """``(None, 256, 7, 7)``; several outputs as a list of those; ``?`` for a layer the forward did not call."""
    if shape is None:
        return "?"
    if shape and isinstance(shape[0], tuple):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def readable_size(n_bytes: int) -> str:
    """Keras' ``readable_memory_size``: powers of 1024, two decimals (``8.89 MB``)."""
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _tensors(module: nn.Module) -> Iterator[tuple[torch.Tensor, bool]]:
    """(tensor, trainable) for the weights ``module`` holds itself, those of its parametrizations included."""
    owners = [module]
    if isinstance(getattr(module, PARAMETRIZATIONS, None), nn.Module):
        owners += list(getattr(module, PARAMETRIZATIONS).modules())
    for owner in owners:
        for p in owner.parameters(recurse=False):
            yield p, p.requires_grad
        skip = owner._non_persistent_buffers_set
        for name, b in owner.named_buffers(recurse=False):
            if name not in skip and b is not None and b.is_floating_point():
                yield b, False


def _count(tensors: Iterator[tuple[torch.Tensor, bool]], seen: set[int]) -> Counts:
    c = Counts()
    for t, trainable in tensors:
        if id(t) in seen:  # a weight shared by two layers counts once, at the first
            continue
        seen.add(id(t))
        n, size = t.numel(), t.numel() * t.element_size()
        c = c + (Counts(n, 0, size, 0) if trainable else Counts(0, n, 0, size))
    return c


def count_parameters(model: nn.Module) -> Counts:
    """Trainable and non-trainable parameters of ``model``, counted as ``summarize`` counts them."""
    seen: set[int] = set()
    return sum((_count(_tensors(m), seen) for m in model.modules()), Counts())


def _layers(model: nn.Module) -> dict[nn.Module, str]:
    """Every module that may be a layer, by its path; the parametrizations belong to the layer they change."""
    out = {}
    for name, m in model.named_modules():
        if PARAMETRIZATIONS in name.split("."):
            continue
        children = [c for n, c in m.named_children() if n != PARAMETRIZATIONS]
        if not children or next(_tensors(m), None) is not None:
            out[m] = name or type(m).__name__
    return out


def _kind(module: nn.Module) -> str:
    """The module's class name; a parametrized layer (spectral norm) as its own class and what changes it,
    ``Conv2d, SN``, where torch would say ``ParametrizedConv2d``."""
    changes = getattr(module, PARAMETRIZATIONS, None)
    if not isinstance(changes, nn.Module):
        return type(module).__name__
    base = next((c for c in type(module).__mro__[1:] if not c.__name__.startswith("Parametrized")), type(module))
    names = {type(p).__name__.strip("_") for plist in changes.children() for p in plist}
    short = sorted({"SpectralNorm": "SN"}.get(n, n) for n in names)
    return ", ".join([base.__name__, *short])


def _shape(value: Any, batch: int) -> Shape | tuple[Shape, ...] | None:
    if isinstance(value, torch.Tensor):
        dims = tuple(value.shape)
        return (None, *dims[1:]) if dims and dims[0] == batch else dims
    if isinstance(value, (tuple, list)):
        shapes = tuple(s for s in (_shape(v, batch) for v in value) if s is not None)
        return shapes or None
    return None


def summarize(model: nn.Module, example_inputs: torch.Tensor | Sequence[Any], *, name: str | None = None,
              batch_size: int | None = None) -> Summary:
    """The summary of ``model`` from one forward pass on ``example_inputs`` (a tensor, or the positional
    arguments of ``forward``: a conditional model takes ``(z, labels)``).

    The pass runs in eval mode without gradients, so it changes no weights or statistics, and the model
    returns to the mode it was in; tensors go to the model's device first. ``batch_size`` (default: the
    first input's first dimension) is the dimension shown as None.
    """
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    weight = next(model.parameters(), None)
    if weight is not None:
        inputs = tuple(x.to(weight.device) if isinstance(x, torch.Tensor) else x for x in inputs)
    if batch_size is None:
        batch_size = inputs[0].shape[0] if inputs and isinstance(inputs[0], torch.Tensor) else -1
    layers = _layers(model)
    order: list[nn.Module] = []
    shapes: dict[nn.Module, Any] = {}

    def before(module: nn.Module, args: Any) -> None:
        if module not in shapes:
            order.append(module)
            shapes[module] = None

    def after(module: nn.Module, args: Any, output: Any) -> None:
        if shapes.get(module) is None:  # a layer called twice shows its first output
            shapes[module] = _shape(output, batch_size)

    handles = [h for m in layers for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training

    seen: set[int] = set()
    rows = []
    # Layers in call order, then any the forward did not call that hold weights (so the rows add up).
    for m in order + [m for m in layers if m not in shapes]:
        counts = _count(_tensors(m), seen)
        if m in shapes or counts.total:
            rows.append(LayerRow(layers[m], _kind(m), shapes.get(m), counts))
    return Summary(name or type(model).__name__, tuple(rows), count_parameters(model))
