"""The layer an explanation targets: which layers exist, which one to choose, and its checks.

Every explanation addresses a layer by its module name (`conv1`, `layer4.1.conv2`,
`blocks.6.0.conv_pw`), as `model.named_modules()` spells it. The layer list is read from one
forward pass traced by `cnnlab.models.tracing`, so it is in forward order and carries each
layer's output shape. By default Grad-CAM targets the output of the last conv layer's block,
after its activation (`cam_layer`); feature patterns and top images, the last convolution itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models.tracing import trace_modules


# Module kinds by what they do to a feature map (class names, so timm's and torchvision's count too).
ACTIVATIONS = {"ReLU", "ReLU6", "LeakyReLU", "ELU", "GELU", "SiLU", "Hardswish", "Mish", "Sigmoid", "Tanh"}
NORMS = {"BatchNorm2d", "GroupNorm", "BatchNormAct2d", "LayerNorm2d", "Identity"}
POOLS = {"MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"}


class LayerError(CnnlabError):
    """A layer name does not exist, or the layer does not fit the method."""


@dataclass(frozen=True)
class LayerInfo:
    """One module of a model: its name, its class name and its output shape without the batch."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    finished: int = 0  # when its first call returned, in the order calls return
    calls: int = 1     # how many times the forward pass called it

    @property
    def is_spatial(self) -> bool:
        """True when the output is feature maps C×H×W (what Grad-CAM and feature maps need)."""
        return len(self.output_shape) == 3


def model_of(source) -> nn.Module:
    """The nn.Module of a LoadedModel or a bare module."""
    return source if isinstance(source, nn.Module) else source.model


def trace_layers(model: nn.Module, example: torch.Tensor) -> list[LayerInfo]:
    """Every named module that runs on `example` and returns a tensor, in the order it starts.

    Containers are listed too (a ResNet's `layer4` is the classic Grad-CAM layer); a module
    called twice is listed once, with its first tensor output.
    """
    names = [n for n, _ in model.named_modules() if n]
    with torch.no_grad(), trace_modules(model, names) as trace:
        model(example)
    finished: dict[str, int] = {}
    counts: dict[str, int] = {}
    for position, call in enumerate(trace.calls):  # trace.calls is in finishing order
        finished.setdefault(call.name, position)
        counts[call.name] = counts.get(call.name, 0) + 1
    calls = sorted(trace.calls, key=lambda c: c.order)
    shapes: dict[str, tuple[int, ...]] = {}
    for call in calls:
        if call.returns_tensor:
            shapes.setdefault(call.name, call.output_shape)
    started = dict.fromkeys(call.name for call in calls)  # first start order, once per name
    kinds = {call.name: call.kind for call in calls}
    return [LayerInfo(n, kinds[n], shapes[n], finished[n], counts[n]) for n in started if n in shapes]


def example_input(loaded, batch: int = 1) -> torch.Tensor:
    """A zero batch of the model's input shape, on the model's device."""
    pre = loaded.preprocessing
    device = next(loaded.model.parameters()).device
    return torch.zeros(batch, pre.channels, *pre.input_size, device=device)


def is_conv(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.conv._ConvNd)


def default_layer(model, layers: Sequence[LayerInfo] | None = None) -> str:
    """The last convolution's module name: the deepest maps that are still spatial (patterns and
    top images start there; Grad-CAM takes its block output, `cam_layer`).

    With the traced `layers`, a conv whose output is 1×1 (a head after global pooling, as in
    MobileNetV3) is passed over: its map would have nothing to localise.
    """
    module = model_of(model)
    convs = [n for n, m in module.named_modules() if is_conv(m)]
    if layers is not None:
        spatial = {li.name for li in layers if li.is_spatial and li.output_shape[1] * li.output_shape[2] > 1}
        convs = [n for n in convs if n in spatial] or convs
    if not convs:
        raise LayerError(f"{type(module).__name__}: has no convolution layer; pass layer=... "
                         "naming a layer with C×H×W output")
    return convs[-1]


def cam_layer(model, layers: Sequence[LayerInfo]) -> str:
    """The default Grad-CAM layer: the last conv layer's block output, after its activation.

    The Grad-CAM paper's code explains VGG-16 at `relu5_3` and the Keras book at a Conv2D layer
    with its ReLU: maps after the activation. Before it, Σ_k α_k A^k mixes the negative
    responses the next ReLU will silence: on `make demo`'s model the map was all zeros for 31
    of the first 100 test digits at `conv2`, and for none at `relu2` (measured once).

    From the last conv (`default_layer`), this follows the layers that return, in order, while
    they keep its H×W: the norm and activation after it, and the blocks that end with it (a
    ResNet's `layer4`, an Inception block's concatenation, EfficientNet's `bn2` with its act),
    and takes the last one. A flatten ends the block, and so does a pool that changes the size,
    unless the activation comes after it (`conv maxpool bn relu`, as the `mnist-fast` recipe
    orders a block): then the block's output is that activation's, at the pooled size. Modules
    called more than once (a ReLU shared inside a torchvision ResNet block) are passed over:
    their hook would see several tensors.
    """
    conv = find_layer(layers, default_layer(model, layers))
    modules = dict(model_of(model).named_modules())
    after = sorted((li for li in layers if li.finished > conv.finished and li.calls == 1), key=lambda li: li.finished)
    block = same_size_run(after, conv)
    if not any(li.kind in ACTIVATIONS or next(modules[li.name].children(), None) is not None for li in block):
        # no activation and no enclosing block at the conv's size: a pool may come before the activation
        for i, li in enumerate(after):
            if li.kind in ACTIVATIONS and li.is_spatial:
                block = [li, *same_size_run(after[i + 1:], li)]
                break
            if li.kind not in POOLS | NORMS or not li.is_spatial:
                break
    shown = [li for li in block if not li.kind.startswith("Dropout")]  # eval-mode dropout: same maps, odd name
    return shown[-1].name if shown else conv.name


def same_size_run(layers: Sequence[LayerInfo], start: LayerInfo) -> list[LayerInfo]:
    """The leading `layers` whose maps keep `start`'s H×W."""
    run = []
    for li in layers:
        if not li.is_spatial or li.output_shape[1:] != start.output_shape[1:]:
            break
        run.append(li)
    return run


def first_conv(model) -> str:
    """The first convolution's module name (whose weights look at pixels)."""
    module = model_of(model)
    for n, m in module.named_modules():
        if is_conv(m):
            return n
    raise LayerError(f"{type(module).__name__}: has no convolution layer")


def get_module(model: nn.Module, name: str, layers: Sequence[LayerInfo]) -> nn.Module:
    """The module called `name`, or an error listing the valid names."""
    modules = dict(model.named_modules())
    if name not in modules or not name:
        valid = ", ".join(layer.name for layer in layers)
        raise LayerError(f"layer {name!r}: no such layer in this model; valid names: {valid}")
    return modules[name]


def require_spatial(layer: LayerInfo, method: str, layers: Sequence[LayerInfo]) -> None:
    """Refuse a layer without C×H×W output (a Linear layer) for a method that maps space."""
    if not layer.is_spatial:
        convs = [li.name for li in layers if li.is_spatial and li.kind.startswith("Conv")]
        raise LayerError(f"layer {layer.name!r} ({layer.kind}) outputs shape {layer.output_shape}, not feature "
                         f"maps C×H×W; {method} needs a conv layer (or a layer after one), e.g. "
                         f"{', '.join(convs[-3:]) or 'none in this model'}")


def find_layer(layers: Sequence[LayerInfo], name: str) -> LayerInfo:
    """The LayerInfo called `name`, or an error listing the valid names."""
    for layer in layers:
        if layer.name == name:
            return layer
    valid = ", ".join(layer.name for layer in layers)
    raise LayerError(f"layer {name!r}: no such layer in this model; valid names: {valid}")
