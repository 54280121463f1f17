"""Size arithmetic of conv nets: output sizes, input-size checks and receptive fields.

* `conv_output_size(w, f, p, s)` is CS231n's (W - F + 2P)/S + 1 for one conv or pool.
* `check_input_size(model, (C, H, W))` runs the model once on a dummy image and refuses an input
  that is too small, naming the layer where the feature map becomes empty.
* `receptive_fields(model, (C, H, W))` gives every layer's receptive field, jump and start.

The dry runs behind the last two use PyTorch's "meta" device: parameters and the input are
replaced by tensors that carry only shapes, so even VGG-16 at 224x224 costs no arithmetic and
no memory. Models that do data-dependent Python on tensors (which meta tensors cannot answer)
fall back to one real forward pass of a zero image, batch 1, without gradients.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from itertools import chain
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode

from cnnlab.errors import ModelError


# --- one layer's arithmetic --------------------------------------------------------------------

def conv_output_size(w: int, f: int, p: int = 0, s: int = 1, *, dilation: int = 1,
                     strict: bool = False, layer: str | None = None) -> int:
    """Output width of a convolution or pooling window: (W - F + 2P)/S + 1.

    W is the input width, F the filter (window) size, P the zero padding on each side and S the
    stride; a dilated filter spans F' = dilation*(F-1)+1 pixels and takes F's place. PyTorch
    floors the division, and so does this function unless `strict=True`, which refuses a filter
    that does not tile the padded input exactly (CS231n's "invalid" hyper-parameters). An output
    smaller than 1 is always an error. `layer` names the layer in the error message.
    """
    for what, value, least in (("W", w, 1), ("F", f, 1), ("P", p, 0), ("S", s, 1),
                               ("dilation", dilation, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ModelError(f"conv_output_size: {what}={value!r}, expected an int >= {least}")
    where = f"{layer}: " if layer else ""
    span = dilation * (f - 1) + 1
    f_text = f"F={f}" if dilation == 1 else f"F={span} (a {f}-tap filter dilated by {dilation})"
    numerator = w - span + 2 * p
    formula = f"(W - F + 2P)/S + 1 = ({w} - {span} + {2 * p})/{s} + 1"
    if numerator < 0:
        raise ModelError(
            f"{where}the filter is larger than its padded input: W={w}, {f_text}, P={p}, S={s} "
            f"gives {formula} = {numerator / s + 1:g}, an empty output; use a smaller filter, "
            "more padding, fewer downsampling layers before it, or a larger input image")
    if strict and numerator % s:
        raise ModelError(
            f"{where}{formula} = {numerator / s + 1:g} is not a whole number: with S={s} the "
            f"filter does not tile the input (PyTorch would floor it to {numerator // s + 1} "
            "and ignore the last pixels); change the padding or the stride")
    return numerator // s + 1


def parse_input_size(text: str) -> tuple[int, int, int]:
    """'3x224x224' (also '3×224×224', '3,224,224') -> (3, 224, 224): channels, height, width."""
    parts = [p for p in re.split(r"\s*[x×X*,]\s*", str(text).strip())]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ModelError(f"input size {text!r}: expected C×H×W (channels, height, width) as "
                         "three positive integers, such as 3x224x224 or 1x28x28")
    c, h, w = (int(p) for p in parts)
    return c, h, w


def as_chw(input_size: tuple[int, int, int] | list[int] | str) -> tuple[int, int, int]:
    """A (channels, height, width) triple from a tuple/list or 'CxHxW' text."""
    if isinstance(input_size, str):
        return parse_input_size(input_size)
    if (isinstance(input_size, (tuple, list, torch.Size)) and len(input_size) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in input_size)):
        return int(input_size[0]), int(input_size[1]), int(input_size[2])
    raise ModelError(f"input_size={input_size!r}: expected (channels, height, width) such as "
                     "(3, 224, 224)")


def format_shape(shape: tuple[int, ...] | None) -> str:
    """(64, 224, 224) -> '64×224×224'."""
    return "?" if shape is None else "×".join(str(v) for v in shape)


# --- dry runs ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerTrace:
    """One leaf module call seen during a dry run; shapes are per image (no batch dimension)."""

    name: str
    module: nn.Module
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None


@dataclass(frozen=True)
class DryRun:
    """What a dry run saw: the output (a meta or real tensor) and each leaf layer call."""

    output: Any
    layers: list[LayerTrace]
    on_meta: bool


class _MetaUnsupported(Exception):
    """The model does something that meta tensors cannot answer; retry with a real tensor."""


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


def _image_shape(value: Any) -> tuple[int, ...] | None:
    t = _first_tensor(value)
    return None if t is None else tuple(t.shape[1:])


def _is_meta_limitation(error: BaseException) -> bool:
    return isinstance(error, NotImplementedError) or "meta" in str(error).lower()


def _model_label(model: nn.Module, label: str | None = None) -> str:
    if label:
        return label
    arch = getattr(model, "cnnlab_architecture", None)
    if isinstance(arch, dict) and "name" in arch:
        return str(arch["name"])
    return type(model).__name__


def _spatial_trail(input_hw: tuple[int, int], layers: list[LayerTrace]) -> str:
    """'28×28 → 14×14 (features.4) → 7×7 (features.9)': where the map size changes."""
    steps, current = [f"{input_hw[0]}×{input_hw[1]}"], input_hw
    for layer in layers:
        if layer.output_shape is not None and len(layer.output_shape) == 3:
            hw = layer.output_shape[1:]
            if hw != current:
                steps.append(f"{hw[0]}×{hw[1]} ({layer.name})")
                current = hw
    return " → ".join(steps)


def _explain_failure(error: BaseException, model: nn.Module, input_shape: tuple[int, int, int],
                     failing: tuple[str, nn.Module, tuple[int, ...] | None] | None,
                     layers: list[LayerTrace], label: str | None) -> ModelError:
    c, h, w = input_shape
    label = _model_label(model, label)
    torch_says = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if failing is None or failing[0] == "":
        last = layers[-1].name if layers else None
        where = f"the forward of {type(model).__name__} itself" + (
            f" (after layer '{last}')" if last else "")
        gets = ""
    else:
        name, module, in_shape = failing
        where = f"layer '{name}' ({module!r})" if not list(module.children()) else (
            f"layer '{name}' ({type(module).__name__})")
        gets = f" gets {format_shape(in_shape)} and"
    expected = _expected_features(failing[1]) if failing else None
    linear = failing is not None and isinstance(failing[1], nn.Linear)
    if expected is not None and failing[2] and failing[2][-1 if linear else 0] != expected:
        what = "features" if linear else "channels"
        return ModelError(
            f"{label} cannot take input {c}×{h}×{w}: {where} expects {expected} input {what} "
            f"but gets {format_shape(failing[2])}; build the model for this input (in_channels="
            f"{c}, input_size=({h}, {w})) or convert the images")
    too_small = any(s in str(error) for s in (
        "too small", "can't be greater", "Output size", "output size", "non-positive"))
    if too_small:
        return ModelError(
            f"input {c}×{h}×{w} is too small for {label}: {where}{gets} its output would be "
            f"empty (PyTorch: {torch_says}).\n  spatial size: "
            f"{_spatial_trail((h, w), layers)} → empty at {where.split(' (')[0]}.\n"
            "  Use larger images (resize them) or a model made for small inputs.")
    return ModelError(f"{label} cannot take input {c}×{h}×{w}: {where}{gets} fails: {torch_says}")


def _expected_features(module: nn.Module) -> int | None:
    """The number of channels (or features) a layer's input must have, where it is fixed."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return module.in_channels
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return module.num_features
    if isinstance(module, nn.Linear):
        return module.in_features
    return None


def dry_run(model: nn.Module, input_size: tuple[int, int, int] | str,
            mode_factory: Callable[[torch.Tensor], AbstractContextManager] | None = None,
            label: str | None = None) -> DryRun:
    """Run `model` once on a batch-1 dummy image, recording every leaf layer's shapes.

    Errors (a map that becomes empty, wrong channels) become a ModelError naming the layer.
    Training flags are restored afterwards; the weights are never touched. `mode_factory(x)`
    may return a context (e.g. a TorchFunctionMode) active during the forward. `label` names
    the model in messages (default: its registry name or class).
    """
    shape = as_chw(input_size)
    flags = {m: m.training for m in model.modules()}
    model.eval()  # batch norm cannot normalise a batch of one 1x1 map in training mode
    try:
        try:
            return _dry_run_once(model, shape, True, mode_factory, label)
        except _MetaUnsupported:
            return _dry_run_once(model, shape, False, mode_factory, label)
    finally:
        for module, training in flags.items():
            module.training = training


def _dry_run_once(model: nn.Module, shape: tuple[int, int, int], on_meta: bool,
                  mode_factory: Callable[[torch.Tensor], AbstractContextManager] | None,
                  label: str | None) -> DryRun:
    names = {m: n for n, m in model.named_modules()}
    stack: list[tuple[str, nn.Module, tuple[int, ...] | None]] = []
    layers: list[LayerTrace] = []
    notes: list[str] = []

    def before(module: nn.Module, args: tuple) -> None:
        stack.append((names.get(module, "?"), module, _image_shape(args)))

    def after(module: nn.Module, args: tuple, output: Any) -> None:
        name, _, in_shape = stack.pop()
        out_shape = _image_shape(output)
        if not list(module.children()):
            layers.append(LayerTrace(name, module, in_shape, out_shape))
        if out_shape is not None and len(out_shape) == 3 and 0 in out_shape[1:]:
            c, h, w = shape
            raise ModelError(
                f"input {c}×{h}×{w} is too small for {_model_label(model, label)}: layer '{name}' "
                f"({type(module).__name__}) turns {format_shape(in_shape)} into an empty "
                f"{format_shape(out_shape)} map.\n  spatial size: {_spatial_trail((h, w), layers)}"
                ".\n  Use larger images (resize them) or a model made for small inputs.")
        if (isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and in_shape
                and out_shape and len(in_shape) == 3 and len(out_shape) == 3
                and (out_shape[1] > in_shape[1] or out_shape[2] > in_shape[2])):
            notes.append(
                f"layer '{name}' ({type(module).__name__}) stretches a {in_shape[1]}×{in_shape[2]}"
                f" map to {out_shape[1]}×{out_shape[2]} at input {format_shape(shape)}: the image "
                "is smaller than this model was designed for, so the layers after it see "
                "repeated values; consider resizing the images")

    handles = [h for m in model.modules()
               for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    try:
        tensors = list(chain(model.parameters(), model.buffers()))
        floats = [t for t in tensors if t.is_floating_point()]
        dtype = floats[0].dtype if floats else torch.float32
        if on_meta:
            state = {n: torch.empty_like(t, device="meta") for n, t in
                     chain(model.named_parameters(), model.named_buffers())}
            x = torch.zeros((1, *shape), device="meta", dtype=dtype)
        else:
            device = tensors[0].device if tensors else torch.device("cpu")
            x = torch.zeros((1, *shape), device=device, dtype=dtype)
        context = mode_factory(x) if mode_factory else nullcontext()
        with torch.no_grad(), context:
            output = functional_call(model, state, (x,)) if on_meta else model(x)
    except ModelError:
        raise
    except (RuntimeError, ValueError, IndexError, AssertionError, NotImplementedError) as e:
        if on_meta and _is_meta_limitation(e):
            raise _MetaUnsupported() from e
        raise _explain_failure(e, model, shape, stack[-1] if stack else None, layers,
                               label) from e
    finally:
        for handle in handles:
            handle.remove()
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    return DryRun(output, layers, on_meta)


def check_input_size(model: nn.Module, input_size: tuple[int, int, int] | str, *,
                     label: str | None = None) -> tuple[int, ...]:
    """Refuse an input the model cannot take, before any training; return the output shape.

    `input_size` is (channels, height, width). A dummy forward pass (on the meta device: no
    arithmetic) finds the first layer whose feature map would become empty and names it, with
    the spatial sizes along the way. For example torchvision's VGG-16 at 1x28x28: its five
    2x2 max-pools take 28 -> 14 -> 7 -> 3 -> 1 -> 0, so the last pool ('features.30') fails;
    its AdaptiveAvgPool2d(7) never gets the chance to hide the problem. When an adaptive pool
    only *stretches* a small map (VGG-16 at 32x32: 1x1 -> 7x7) the model runs, and a
    UserWarning says so. Returns the output shape per image, e.g. (10,). `label` names the
    model in messages (default: its registry name or class).
    """
    run = dry_run(model, input_size, label=label)
    out = _first_tensor(run.output)
    return tuple(out.shape[1:]) if out is not None else ()


# --- receptive fields --------------------------------------------------------------------------

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
        result = _first_tensor(out)
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
                     input_size: tuple[int, int, int] | str) -> list[ReceptiveField]:
    """Receptive field, jump and start of every layer that outputs a feature map, in order.

    Per axis, a window of size k (dilated span k'), stride s and padding p maps the field of
    its input (r, j, start) to r + (k'-1)*j, j*s and start + ((k'-1)/2 - p)*j; the input image
    is (1, 1, 0.5). Three stacked 3x3 convs see 7x7 pixels; VGG-16's conv5_3 sees 196x196 and
    its last pool 212x212. Layers after flattening (Linear) see the whole image and are not
    listed. Branches (ResNet shortcuts, Inception) take the widest field among their inputs.
    """
    trackers: list[_FieldTracker] = []
    rows: list[ReceptiveField] = []

    def start_tracking(x: torch.Tensor) -> _FieldTracker:
        rows.clear()  # a meta attempt that failed part-way leaves rows the real run redoes
        tracker = _FieldTracker()
        tracker.set(x, _Field((1, 1), (1, 1), (0.5, 0.5)))
        trackers.append(tracker)
        return tracker

    names = {m: n for n, m in model.named_modules()}

    def record(module: nn.Module, args: tuple, output: Any) -> None:
        out = _first_tensor(output)
        if trackers and out is not None and out.dim() == 4:
            field = trackers[-1].get(out)
            if field is not None:
                rows.append(ReceptiveField(names[module], type(module).__name__,
                                           tuple(out.shape[-2:]), field.size, field.jump,
                                           field.start))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        dry_run(model, input_size, mode_factory=start_tracking)
    finally:
        for handle in handles:
            handle.remove()
    return rows
