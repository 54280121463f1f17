"""Output sizes: of one conv or pool by CS231n's formula, of a whole model by a dry run.

* `conv_output_size(w, f, p, s)` is (W - F + 2P)/S + 1 for one conv or pool window.
* `check_input_size(model, (C, H, W))` runs the model once on a dummy image and refuses an input
  that is too small, naming the layer where the feature map becomes empty, or one with the
  wrong number of channels; it returns the output shape.
* `dry_run` is that run, traced (`cnnlab.models.tracing`): every layer's input and output
  shape. `receptive_fields` and `to_fully_convolutional` build on it; `summary` runs its one
  torchinfo pass through `run_checked`, so a bad input gets the same message there.

The dry runs use PyTorch's "meta" device: parameters and the input are replaced by tensors
that carry only shapes, so even VGG-16 at 224x224 costs no arithmetic and no memory. Models
that do data-dependent Python on tensors (which meta tensors cannot answer) fall back to one
real forward pass of a zero image, batch 1, without gradients.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from itertools import chain
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from cnnlab.errors import ModelError
from cnnlab.models.tracing import ModuleCall, Trace, trace_modules
from cnnlab.shapes import as_chw, format_shape

ModeFactory = Callable[[torch.Tensor], AbstractContextManager]
OnCall = Callable[[ModuleCall, tuple, Any], None]


# --- one layer -------------------------------------------------------------------------------

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


# --- a whole model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DryRun:
    """What a dry run saw: the forward's result, the output shape and each layer call."""

    output: Any                        # what the forward returned: the model's output (meta or
                                       # real), or torchinfo's statistics for `summary`
    output_shape: tuple[int, ...]      # the model's output per image, e.g. (10,)
    layers: list[ModuleCall]           # leaf layer calls, in finishing order
    on_meta: bool


class MetaUnsupported(ModelError):
    """The model does something that meta tensors cannot answer; run it on real tensors."""


def _is_meta_limitation(error: BaseException) -> bool:
    return isinstance(error, NotImplementedError) or "meta" in str(error).lower()


def _model_label(model: nn.Module, label: str | None = None) -> str:
    if label:
        return label
    arch = getattr(model, "cnnlab_architecture", None)
    if isinstance(arch, dict) and "name" in arch:
        return str(arch["name"])
    return type(model).__name__


def _spatial_trail(input_hw: tuple[int, int], layers: list[ModuleCall]) -> str:
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
                     failing: ModuleCall | None,
                     layers: list[ModuleCall], label: str | None) -> ModelError:
    c, h, w = input_shape
    label = _model_label(model, label)
    torch_says = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if failing is None or failing.name == "":
        last = layers[-1].name if layers else None
        where = f"the forward of {type(model).__name__} itself" + (
            f" (after layer '{last}')" if last else "")
        gets = ""
    else:
        name, module, in_shape = failing.name, failing.module, failing.input_shape
        where = f"layer '{name}' ({module!r})" if not list(module.children()) else (
            f"layer '{name}' ({type(module).__name__})")
        gets = f" gets {format_shape(in_shape)} and"
    expected = _expected_features(failing.module) if failing else None
    linear = failing is not None and isinstance(failing.module, nn.Linear)
    if expected is not None and failing.input_shape and (
            failing.input_shape[-1 if linear else 0] != expected):
        what = "features" if linear else "channels"
        return ModelError(
            f"{label} cannot take input {c}×{h}×{w}: {where} expects {expected} input {what} "
            f"but gets {format_shape(failing.input_shape)}; build the model for this input (in_channels="
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


def dry_run(model: nn.Module, input_shape: tuple[int, int, int] | str,
            mode_factory: ModeFactory | None = None, label: str | None = None,
            on_call: OnCall | None = None) -> DryRun:
    """Run `model` once on a batch-1 dummy image (C×H×W `input_shape`), tracing every layer.

    Errors (a map that becomes empty, wrong channels) become a ModelError naming the layer.
    Training flags are restored afterwards; the weights are never touched. `mode_factory(x)`
    may return a context (e.g. a TorchFunctionMode) active during the forward; `on_call` sees
    every module call (`cnnlab.models.tracing`). `label` names the model in messages (default:
    its registry name or class).
    """
    shape = as_chw(input_shape)
    with _eval_mode(model):
        try:
            return _checked_pass(model, shape, True, None, mode_factory, label, on_call)
        except MetaUnsupported:
            return _checked_pass(model, shape, False, None, mode_factory, label, on_call)


def run_checked(model: nn.Module, input_shape: tuple[int, int, int] | str,
                forward: Callable[[torch.Tensor], Any], *, label: str | None = None) -> DryRun:
    """`forward(x)` once, for a zero batch-1 `x` on the model's device, with the dry run's checks.

    For a pass that another library drives (`summary` runs torchinfo's): the hooks trace every
    layer and the errors are explained as in `dry_run`. Raises `MetaUnsupported` when the model
    lives on the meta device and does something meta tensors cannot answer.
    """
    shape = as_chw(input_shape)
    on_meta = _device_of(model).type == "meta"
    with _eval_mode(model):
        return _checked_pass(model, shape, on_meta, forward, None, label, None)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the run (batch norm cannot normalise a batch of one 1x1 map in training
    mode), then every module's own training flag back."""
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in flags.items():
            module.training = training


def _device_of(model: nn.Module) -> torch.device:
    tensor = next(chain(model.parameters(), model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _dtype_of(model: nn.Module) -> torch.dtype:
    floats = [t for t in chain(model.parameters(), model.buffers()) if t.is_floating_point()]
    return floats[0].dtype if floats else torch.float32


def _checked_pass(model: nn.Module, shape: tuple[int, int, int], on_meta: bool,
                  forward: Callable[[torch.Tensor], Any] | None, mode_factory: ModeFactory | None,
                  label: str | None, on_call: OnCall | None) -> DryRun:
    notes: list[str] = []

    def each_call(call: ModuleCall, args: tuple, output: Any) -> None:
        if on_call is not None:
            on_call(call, args, output)
        _check_map(call, model, shape, label, trace, notes)

    with trace_modules(model, on_call=each_call) as trace:
        try:
            device = torch.device("meta") if on_meta else _device_of(model)
            x = torch.zeros((1, *shape), device=device, dtype=_dtype_of(model))
            if forward is None and on_meta:
                state = {n: torch.empty_like(t, device="meta") for n, t in
                         chain(model.named_parameters(), model.named_buffers())}
                forward = lambda x: functional_call(model, state, (x,))  # noqa: E731
            context = mode_factory(x) if mode_factory else nullcontext()
            with torch.no_grad(), context:
                output = (forward or model)(x)
        except ModelError:
            raise
        except (RuntimeError, ValueError, IndexError, AssertionError, NotImplementedError) as e:
            if on_meta and _is_meta_limitation(e):
                raise MetaUnsupported(f"{_model_label(model, label)}: cannot run on the meta "
                                      f"device ({e})") from e
            failing = trace.running[-1] if trace.running else None
            raise _explain_failure(e, model, shape, failing, trace.leaves(), label) from e
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=4)
    root = next((call for call in trace.calls if call.name == ""), None)
    output_shape = root.output_shape if root is not None and root.output_shape is not None else ()
    return DryRun(output, output_shape, trace.leaves(), on_meta)


def _check_map(call: ModuleCall, model: nn.Module, shape: tuple[int, int, int],
               label: str | None, trace: Trace, notes: list[str]) -> None:
    """Stop the run at the first layer whose feature map is empty; note an adaptive pool that
    stretches a map smaller than its output (the image is smaller than the model expects)."""
    name, module, in_shape, out_shape = call.name, call.module, call.input_shape, call.output_shape
    if out_shape is not None and len(out_shape) == 3 and 0 in out_shape[1:]:
        c, h, w = shape
        raise ModelError(
            f"input {c}×{h}×{w} is too small for {_model_label(model, label)}: layer '{name}' "
            f"({type(module).__name__}) turns {format_shape(in_shape)} into an empty "
            f"{format_shape(out_shape)} map.\n  spatial size: "
            f"{_spatial_trail((h, w), trace.leaves())}"
            ".\n  Use larger images (resize them) or a model made for small inputs.")
    if (isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and in_shape
            and out_shape and len(in_shape) == 3 and len(out_shape) == 3
            and (out_shape[1] > in_shape[1] or out_shape[2] > in_shape[2])):
        notes.append(
            f"layer '{name}' ({type(module).__name__}) stretches a {in_shape[1]}×{in_shape[2]}"
            f" map to {out_shape[1]}×{out_shape[2]} at input {format_shape(shape)}: the image "
            "is smaller than this model was designed for, so the layers after it see "
            "repeated values; consider resizing the images")


def check_input_size(model: nn.Module, input_shape: tuple[int, int, int] | str, *,
                     label: str | None = None) -> tuple[int, ...]:
    """Refuse an input the model cannot take, before any training; return the output shape.

    `input_shape` is (channels, height, width). A dummy forward pass (on the meta device: no
    arithmetic) finds the first layer whose feature map would become empty and names it, with
    the spatial sizes along the way. For example torchvision's VGG-16 at 1x28x28: its five
    2x2 max-pools take 28 -> 14 -> 7 -> 3 -> 1 -> 0, so the last pool ('features.30') fails;
    its AdaptiveAvgPool2d(7) never gets the chance to hide the problem. When an adaptive pool
    only *stretches* a small map (VGG-16 at 32x32: 1x1 -> 7x7) the model runs, and a
    UserWarning says so. Returns the output shape per image, e.g. (10,). `label` names the
    model in messages (default: its registry name or class).
    """
    return dry_run(model, input_shape, label=label).output_shape
