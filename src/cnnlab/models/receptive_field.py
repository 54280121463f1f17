"""Receptive fields: how many input pixels each layer's output units see, and where.

`receptive_fields(model, (C, H, W))` lists, for every layer that outputs a feature map, the
field's size, the jump between neighbouring units and the centre of the first unit, per axis.
It follows the fields through every torch function call of one dry run (`dry_run`, on the meta
device: no arithmetic), so branched nets and functional pools are followed too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cnnlab.errors import ModelError
from cnnlab.models.output_size import dry_run
from cnnlab.models.tracing import ModuleCall, first_tensor


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of one layer's output units, per axis (height, width).

    size:  how many input pixels one output unit can see.
    jump:  the distance in input pixels between neighbouring output units (product of strides).
    start: the input coordinate of the centre of the first output unit's field; pixel i spans
           [i, i+1), so the input's own units start at 0.5. Padding can make it negative.
    """

    layer: str
    kind: str
    output_size: tuple[int, int]
    size: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]


@dataclass(frozen=True)
class _Field:
    size: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]


def _pair(value: Any, default: Any = None) -> tuple[Any, Any]:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        value = default
    if isinstance(value, (list, tuple, torch.Size)):
        return (value[0], value[0]) if len(value) == 1 else (value[-2], value[-1])
    return value, value


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _clean(v: float) -> float:
    return int(v) if float(v).is_integer() else v


def _through_window(field: _Field, kernel: tuple, stride: tuple, padding: tuple,
                    dilation: tuple = (1, 1)) -> _Field:
    """One sliding window (conv or pool): r += (k'-1)*j, j *= s, start += ((k'-1)/2 - p)*j."""
    size, jump, start = [], [], []
    for axis in range(2):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        j = field.jump[axis]
        size.append(_clean(field.size[axis] + (span - 1) * j))
        jump.append(_clean(j * stride[axis]))
        start.append(_clean(field.start[axis] + ((span - 1) / 2 - padding[axis]) * j))
    return _Field(tuple(size), tuple(jump), tuple(start))


def _adaptive_window(field: _Field, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> _Field:
    """Adaptive pooling: exact when the output divides the input, else the widest window."""
    size, jump, start = [], [], []
    for axis in range(2):
        n_in, n_out, j = in_hw[axis], out_hw[axis], field.jump[axis]
        windows = [math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out)]
        size.append(_clean(field.size[axis] + (max(windows) - 1) * j))
        jump.append(_clean(j * n_in / n_out))
        start.append(_clean(field.start[axis] + (windows[0] - 1) / 2 * j))
    return _Field(tuple(size), tuple(jump), tuple(start))


def _tensors_in(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors_in(v)


class _FieldTracker(TorchFunctionMode):
    """Follows the receptive field of every feature map through every torch function call.

    Working on calls rather than modules keeps branched nets right: ResNet's shortcut, an
    Inception concatenation or a functional F.max_pool2d are all seen. Convolutions and pools
    apply the window formulas; any other op that keeps the map size (ReLU, batch norm, add,
    cat along channels) takes the largest field among its inputs; an op that squeezes the map
    to 1x1 (mean over H and W) is a global pool.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[int, _Field] = {}
        self._alive: list[torch.Tensor] = []  # keeps ids unique while the run lasts

    def set(self, tensor: torch.Tensor, field: _Field) -> None:
        self.fields[id(tensor)] = field
        self._alive.append(tensor)

    def get(self, tensor: Any) -> _Field | None:
        return self.fields.get(id(tensor)) if isinstance(tensor, torch.Tensor) else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        result = first_tensor(out)
        if result is not None and result.dim() >= 3:
            field = self._follow(getattr(func, "__name__", str(func)), args, kwargs, result)
            if field is not None:
                self.set(result, field)
        return out

    def _follow(self, name: str, args: tuple, kwargs: dict, out: torch.Tensor) -> _Field | None:
        x = _arg(args, kwargs, 0, "input")
        field = self.get(x)
        out_hw = tuple(out.shape[-2:])
        if field is not None and name == "conv2d":
            weight = _arg(args, kwargs, 1, "weight")
            kernel = tuple(weight.shape[-2:])
            dilation = _pair(_arg(args, kwargs, 5, "dilation", 1), 1)
            padding = _arg(args, kwargs, 4, "padding", 0)
            if padding == "valid":
                padding = 0
            elif padding == "same":  # torch puts the odd pixel of padding on the right
                padding = tuple((d * (k - 1)) // 2 for k, d in zip(kernel, dilation))
            return _through_window(field, kernel, _pair(_arg(args, kwargs, 3, "stride", 1), 1),
                                   _pair(padding, 0), dilation)
        if field is not None and name in ("max_pool2d", "max_pool2d_with_indices", "avg_pool2d"):
            kernel = _pair(_arg(args, kwargs, 1, "kernel_size"))
            stride = _pair(_arg(args, kwargs, 2, "stride"), kernel)
            padding = _pair(_arg(args, kwargs, 3, "padding", 0), 0)
            dilation = (1, 1) if name == "avg_pool2d" else _pair(
                _arg(args, kwargs, 4, "dilation", 1), 1)
            return _through_window(field, kernel, stride, padding, dilation)
        if field is not None and name.startswith("adaptive_") and name.endswith("pool2d"):
            return _adaptive_window(field, tuple(x.shape[-2:]), out_hw)
        if field is not None and name == "pad":
            pad = list(_arg(args, kwargs, 1, "pad"))
            left = pad[0]
            top = pad[2] if len(pad) >= 4 else 0
            start = (_clean(field.start[0] - top * field.jump[0]),
                     _clean(field.start[1] - left * field.jump[1]))
            return _Field(field.size, field.jump, start)
        known = [(t, self.get(t)) for t in chain(_tensors_in(args), _tensors_in(kwargs))
                 if self.get(t) is not None and t.dim() >= 3]
        if not known:
            return None
        same_size = [f for t, f in known if tuple(t.shape[-2:]) == out_hw]
        if same_size:  # element-wise, or a concatenation along channels
            widest = (max(f.size[0] for _, f in known), max(f.size[1] for _, f in known))
            base = max(same_size, key=lambda f: f.size)
            return _Field(widest, base.jump, base.start)
        if out_hw == (1, 1):  # a global pool written as a reduction (x.mean((2, 3)))
            t, f = known[0]
            return _adaptive_window(f, tuple(t.shape[-2:]), (1, 1))
        t, _ = known[0]
        raise ModelError(f"receptive_fields: cannot follow '{name}', which turns a "
                         f"{t.shape[-2]}×{t.shape[-1]} map into {out_hw[0]}×{out_hw[1]}")


def receptive_fields(model: nn.Module,
                     input_shape: tuple[int, int, int] | str) -> list[ReceptiveField]:
    """Receptive field, jump and start of every layer that outputs a feature map, in order.

    `input_shape` is (channels, height, width). Per axis, a window of size k (dilated span k'),
    stride s and padding p maps the field of its input (r, j, start) to r + (k'-1)*j, j*s and
    start + ((k'-1)/2 - p)*j; the input image is (1, 1, 0.5). Three stacked 3x3 convs see 7x7
    pixels; VGG-16's conv5_3 sees 196x196 and its last pool 212x212. Layers after flattening
    (Linear) see the whole image and are not listed. Branches (ResNet shortcuts, Inception) take
    the widest field among their inputs.
    """
    trackers: list[_FieldTracker] = []
    rows: list[ReceptiveField] = []

    def start_tracking(x: torch.Tensor) -> _FieldTracker:
        rows.clear()  # a meta attempt that failed part-way leaves rows the real run redoes
        tracker = _FieldTracker()
        tracker.set(x, _Field((1, 1), (1, 1), (0.5, 0.5)))
        trackers.append(tracker)
        return tracker

    def record(call: ModuleCall, args: tuple, output: Any) -> None:
        out = first_tensor(output)
        if call.is_leaf and trackers and out is not None and out.dim() == 4:
            field = trackers[-1].get(out)
            if field is not None:
                rows.append(ReceptiveField(call.name, call.kind, tuple(out.shape[-2:]),
                                           field.size, field.jump, field.start))

    dry_run(model, input_shape, mode_factory=start_tracking, on_call=record)
    return rows
