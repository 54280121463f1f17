"""Run a model with forward hooks and record what its modules do.

The one tracer behind the per-layer summary, the input-size checks, receptive fields, the list
of layers an explanation can target, feature maps and Grad-CAM:

    with trace_modules(model) as trace:
        model(x)
    for call in trace.calls:              # in the order the calls finished
        print(call.name, call.kind, call.input_shape, call.output_shape)

`trace_modules(model, names)` hooks the named modules (by default every module, the model
itself included under the name ''). While the forward runs, `trace.running` holds the calls
that have started but not finished, so when a layer raises, the innermost one is the culprit.
`keep=True` keeps each hooked module's latest tensor output in `trace.outputs` (still in the
autograd graph) and passes a copy on, so an in-place op after the module (torchvision's
`ReLU(inplace=True)`) cannot overwrite what was kept. `on_call(call, args, output)` sees every
call as it finishes, e.g. to stop a run whose feature map has become empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class ModuleCall:
    """One call of a module in a traced forward pass; shapes are per image (no batch dimension)."""

    name: str                             # as model.named_modules() spells it; '' is the model
    module: nn.Module
    order: int                            # when the call started: 0 for the first
    input_shape: tuple[int, ...] | None   # of the first tensor argument
    output_shape: tuple[int, ...] | None  # of the output (its first tensor for a tuple or dict)
    returns_tensor: bool = False          # the output is one tensor

    @property
    def kind(self) -> str:
        """The module's class name, e.g. 'Conv2d'."""
        return type(self.module).__name__

    @property
    def is_leaf(self) -> bool:
        """True for a module without children (a layer rather than a container)."""
        return next(self.module.children(), None) is None


OnCall = Callable[[ModuleCall, tuple, Any], None]


@dataclass
class Trace:
    """What the hooks saw, filled in while the forward pass runs."""

    calls: list[ModuleCall] = field(default_factory=list)    # finished, in finishing order
    running: list[ModuleCall] = field(default_factory=list)  # started, not finished (a stack)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # kept outputs, by name

    def leaves(self) -> list[ModuleCall]:
        """The finished calls of layers (modules without children), in finishing order."""
        return [call for call in self.calls if call.is_leaf]


def first_tensor(value: Any) -> torch.Tensor | None:
    """The tensor itself, or the first tensor inside a tuple, list or dict (else None)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            t = first_tensor(v)
            if t is not None:
                return t
    if isinstance(value, dict):
        return first_tensor(list(value.values()))
    return None


def image_shape(value: Any) -> tuple[int, ...] | None:
    """The shape of `first_tensor(value)` without its batch dimension."""
    t = first_tensor(value)
    return None if t is None else tuple(t.shape[1:])


@contextmanager
def trace_modules(model: nn.Module, names: Iterable[str] | None = None, *, record: bool = True,
                  keep: bool = False, on_call: OnCall | None = None) -> Iterator[Trace]:
    """Hook the named modules (default: all, the model included) for the forward passes inside.

    `record=False` keeps no `calls` (for passes over a whole data set); `keep` and `on_call`:
    see the module docstring. The hooks are removed on leaving the block, even after an error.
    """
    modules = dict(model.named_modules())
    chosen = list(modules) if names is None else list(dict.fromkeys(names))
    trace = Trace()
    started = 0

    def before(name: str, module: nn.Module, args: tuple) -> None:
        nonlocal started
        trace.running.append(ModuleCall(name, module, started, image_shape(args), None))
        started += 1

    def after(name: str, module: nn.Module, args: tuple, output: Any) -> Any:
        begun = trace.running.pop()
        call = ModuleCall(name, module, begun.order, begun.input_shape, image_shape(output),
                          isinstance(output, torch.Tensor))
        if record:
            trace.calls.append(call)
        if on_call is not None:
            on_call(call, args, output)
        if keep and isinstance(output, torch.Tensor):
            trace.outputs[name] = output
            return output.clone()
        return None

    handles = []
    try:
        for name in chosen:
            module = modules[name]
            handles.append(module.register_forward_pre_hook(
                lambda m, args, name=name: before(name, m, args)))
            handles.append(module.register_forward_hook(
                lambda m, args, output, name=name: after(name, m, args, output)))
        yield trace
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def capture(model: nn.Module, names: Iterable[str]) -> Iterator[dict[str, torch.Tensor]]:
    """The outputs of the named modules in the forward passes inside the block, by name.

    The captured tensors stay in the graph, so gradients can be taken with respect to them
    (Grad-CAM, gradient ascent); the module passes a copy on, so an in-place ReLU after it
    cannot overwrite the captured maps.
    """
    with trace_modules(model, names, record=False, keep=True) as trace:
        yield trace.outputs
