"""Transfer learning, the model surgery: a pretrained backbone, a new head, blocks to (un)freeze.

    source = build_model("efficientnet_lite0", weights="imagenet")
    net = TransferNet.from_model(source, num_classes=2, head=[256], head_dropout=0.5)
    net.set_trainable(["head"])                     # feature extraction: the base is frozen
    net.set_trainable(["head", *net.top_blocks(2)])  # fine-tuning: the top two blocks train too

`from_model` cuts the source's classifier off (timm: `reset_classifier(0)`; VGG/AlexNet: the
convolutional base with global average pooling, as the Keras book's `include_top=False`;
otherwise the last Linear layer becomes Identity) and splits the backbone into blocks in
forward order: timm's stages, ResNet's `layer1..4`, VGG's five pooling blocks, a plain CNN's
conv-pool groups. Frozen blocks stay in eval mode while the net trains, so their BatchNorm
statistics do not drift (the Keras book's fine-tuning advice).

Checkpoints store a transfer net as `transfer:<backbone name>` with the backbone's own
architecture dict in `kwargs.backbone`: `build_from_architecture` rebuilds it without
fetching pretrained weights again (the checkpoint holds all of them).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable

import torch
from torch import nn

from cnnlab.errors import ConfigError, ModelError
from cnnlab.models.fast_modules import Dropout
from cnnlab.models.registry import ModelInfo, model_info, register_family

_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def build_head(in_features: int, num_classes: int, hidden: Iterable[int] = (), dropout: float = 0.0) -> nn.Sequential:
    """Linear-ReLU-Dropout blocks of the `hidden` widths, then the class layer.

    hidden=[512, 256], dropout=0.4 is the CIFAR-10 tutorial's head (512→512→256→10); with no
    hidden layer a positive dropout comes right before the class layer.
    """
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        if h < 1:
            raise ConfigError(f"head: {list(hidden)} (expected positive layer widths, e.g. 512,256)")
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = h
    if not layers and dropout > 0:
        layers.append(Dropout(dropout))
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def strip_classifier(model: nn.Module) -> tuple[nn.Module, int]:
    """The model without its classification layer, and the width of the features it now returns."""
    if hasattr(model, "reset_classifier") and hasattr(model, "num_features"):  # timm
        model.reset_classifier(0)
        return model, int(model.num_features)
    if all(hasattr(model, a) for a in ("features", "avgpool", "classifier")) and isinstance(model.features, nn.Sequential):
        # VGG, AlexNet: keep the convolutional base only (the fully connected top is 90 % of
        # VGG-16's weights and specific to ImageNet); global average pooling makes any input fit.
        convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
        base = nn.Sequential(OrderedDict(features=model.features, pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten()))
        return base, convs[-1].out_channels
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError(f"{type(model).__name__}: no Linear classification layer to replace with a new head")
    name, last = linears[-1]
    _replace(model, name, nn.Identity())
    return model, last.in_features


def _units(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children, with long containers (timm's `blocks`, VGG's `features`) opened one level."""
    out = []
    for name, child in module.named_children():
        if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) >= 4:
            out += [(f"{name}.{n}", c) for n, c in child.named_children()]
        else:
            out.append((name, child))
    return out


def _is_layer(module: nn.Module) -> bool:
    """A single layer: no sub-modules, or parameters of its own (timm's BatchNormAct2d holds its act)."""
    return next(module.children(), None) is None or next(module.parameters(recurse=False), None) is not None


def _has_params(modules: list[nn.Module]) -> bool:
    return any(True for m in modules for _ in m.parameters())


def split_blocks(backbone: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """The backbone as (name, modules) blocks in forward order.

    A container child (a residual stage, an EfficientNet stage) is one block; runs of single
    layers (conv, BN, ReLU, pool) form a block that ends at each pooling layer, as VGG's
    blocks do. Blocks without parameters join the block before them.
    """
    if isinstance(backbone, TransferNet):  # a previous transfer run: its blocks, then its head
        return [(f"backbone.{n}", m) for n, m in split_blocks(backbone.backbone)] + [("head", [backbone.head])]
    groups: list[list[tuple[str, nn.Module]]] = []
    current: list[tuple[str, nn.Module]] = []
    for name, module in _units(backbone):
        if _is_layer(module):
            current.append((name, module))
            if isinstance(module, _POOLS):
                groups.append(current)
                current = []
        else:
            if current:
                groups.append(current)
                current = []
            groups.append([(name, module)])
    if current:
        groups.append(current)
    merged: list[list[tuple[str, nn.Module]]] = []
    for g in groups:
        if merged and not _has_params([m for _, m in g]):
            merged[-1].extend(g)
        elif merged and not _has_params([m for _, m in merged[-1]]):
            merged[-1].extend(g)
        else:
            merged.append(list(g))
    blocks = []
    for g in merged:
        named = [n for n, m in g if _has_params([m])] or [g[0][0]]
        label = named[0] if len(named) == 1 else f"{named[0]}..{named[-1]}"
        blocks.append((label, [m for _, m in g]))
    return blocks


class TransferNet(nn.Module):
    """A backbone that maps images to feature vectors, and a head that maps features to classes.

    A 2-D input (N × features) skips the backbone: that is how the head trains on cached
    features, and images are always 4-D, so the two cannot be confused.
    """

    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int, head: Iterable[int] = (),
                 head_dropout: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.head = build_head(feature_dim, num_classes, list(head), head_dropout)
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self._blocks = [(f"backbone.{n}", m) for n, m in split_blocks(backbone)]
        # Fine-tuning small data: every BatchNorm of the backbone stays in inference mode, so its
        # ImageNet statistics are used and never updated (the Keras book's `trainable = False`
        # on BN). On batches of 32 photos, train-mode statistics knocked the training accuracy of
        # an unfrozen Lite0 from 99 % to 84.5 % at the first fine-tuning step (issue 18).
        self.bn_frozen = False

    @classmethod
    def from_model(cls, source: nn.Module, num_classes: int, head: Iterable[int] = (),
                   head_dropout: float = 0.0) -> "TransferNet":
        """A new head on `source` with its classifier cut off (the source is changed in place)."""
        backbone, dim = strip_classifier(source)
        return cls(backbone, dim, num_classes, head, head_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return self.head(x)
        return self.head(self.backbone(x))

    def blocks(self) -> list[tuple[str, list[nn.Module]]]:
        """Backbone blocks in forward order (bottom first), then ('head', [head])."""
        return self._blocks + [("head", [self.head])]

    def block_names(self) -> list[str]:
        return [n for n, _ in self.blocks()]

    def top_blocks(self, n: int | str) -> list[str]:
        """Names of the top `n` backbone blocks ("all": every one)."""
        names = [n_ for n_, _ in self._blocks]
        if n == "all":
            return names
        n = int(n)
        if not 1 <= n <= len(names):
            raise ConfigError(f"unfreeze: {n} (the backbone has {len(names)} blocks: {names}; "
                              f"expected 1..{len(names)} or 'all')")
        return names[-n:]

    def set_trainable(self, trainable: Iterable[str]) -> None:
        """Freeze every block except those named (requires_grad), and put frozen ones in eval mode."""
        trainable = set(trainable)
        unknown = trainable - set(self.block_names())
        if unknown:
            raise ConfigError(f"trainable blocks {sorted(unknown)}: not in this model ({self.block_names()})")
        for name, modules in self.blocks():
            for m in modules:
                m.requires_grad_(name in trainable)
        self.train(self.training)

    def frozen_blocks(self) -> list[str]:
        return [n for n, mods in self.blocks() if _has_params(mods)
                and not any(p.requires_grad for m in mods for p in m.parameters())]

    def train(self, mode: bool = True) -> "TransferNet":
        # Frozen blocks stay in eval mode: BatchNorm keeps its pretrained statistics and dropout
        # inside a frozen base does not add noise to the features the head learns from. A frozen
        # block's parameters do not require gradients, so with an input that does not either,
        # autograd records nothing below the first trainable block: the frozen bottom runs as
        # under torch.no_grad (no activations kept for a backward pass).
        super().train(mode)
        if mode:
            for name in self.frozen_blocks():
                for m in dict(self.blocks())[name]:
                    m.eval()
            if self.bn_frozen:
                for m in self.backbone.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self


def parameter_split(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(backbone parameters, head parameters) of a TransferNet; all are "head" for other models."""
    if isinstance(model, TransferNet):
        return list(model.backbone.parameters()), list(model.head.parameters())
    return [], list(model.parameters())


def _decay_split(params: list[nn.Parameter]) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights that weight decay applies to, 1-d parameters it does not: biases and norm scales)."""
    return [p for p in params if p.ndim > 1], [p for p in params if p.ndim <= 1]


def param_groups(model: nn.Module, lr: float, backbone_lr_mult: float = 1.0,
                 lr_decay: float = 1.0) -> list[dict[str, Any]]:
    """Optimizer groups, one per block, each with its `lr_scale` of the phase's rate.

    The head trains at the phase's rate; the top backbone block at `backbone_lr_mult × lr_decay`,
    each block below at `lr_decay` × the one above (discriminative learning rates: the lower
    blocks hold generic features that should move least). Biases and normalisation parameters
    get no weight decay (group `weight_decay` 0). Frozen parameters are included: they have no
    gradient, so optimizers skip them, and unfreezing later needs no new optimizer. The head
    comes last because the loop reports the last group's learning rate. A model that is not a
    TransferNet is one group (all its parameters), split by decay only.
    """
    if isinstance(model, TransferNet):
        named = [(n, [p for m in mods for p in m.parameters()]) for n, mods in model._blocks]
        blocks = [(n, ps) for n, ps in named if ps]
        scales = [backbone_lr_mult * lr_decay ** (len(blocks) - i) for i in range(len(blocks))]
        units = [(n, ps, s) for (n, ps), s in zip(blocks, scales)] + [("head", list(model.head.parameters()), 1.0)]
    else:
        units = [("head", list(model.parameters()), 1.0)]
    groups = []
    for name, params, scale in units:
        decayed, plain = _decay_split(params)
        # the decayed group comes second so that the head's last group holds its Linear weight
        for suffix, ps, extra in (("no_decay", plain, {"weight_decay": 0.0}), ("", decayed, {})):
            if ps:
                groups.append({"params": ps, "lr": lr * scale, "lr_scale": scale,
                               "name": f"{name}:{suffix}" if suffix else name, **extra})
    return groups


def apply_phase_freezing(training_model: Any, phase: dict[str, Any]) -> None:
    """Make the phase's blocks trainable and freeze the others (`phase["trainable"]`)."""
    training_model.model.set_trainable(phase["trainable"])


def parameter_counts(model: nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


@register_family("transfer", description="a backbone with a new head, built by `--transfer`/`--weights` "
                 "(kwargs: backbone=<architecture dict>, head=[widths], head_dropout)", placeholder="<backbone>")
def resolve_transfer(name: str) -> tuple[ModelInfo, Any]:
    base = model_info(name)
    info = ModelInfo(f"transfer:{name}", f"{base.name} backbone with a new head", base.input_size, base.in_channels,
                     base.num_classes, f"cnnlab.models.transfer on {base.source}", flexible_input=base.flexible_input)

    def build(num_classes: int, in_channels: int, input_size: tuple[int, int], backbone: dict[str, Any],
              head: list[int] | None = None, head_dropout: float = 0.0) -> TransferNet:
        from cnnlab.models.registry import build_from_architecture

        return TransferNet.from_model(build_from_architecture(backbone), num_classes, head or [], head_dropout)

    return info, build
