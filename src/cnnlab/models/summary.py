"""The per-layer table of a model, as in CS231n's VGG-16 walk-through, built on torchinfo.

torchinfo runs the model once and gives each layer's output shape, parameters and
multiply-adds. That one pass also carries the input check of `check_input_size` (the tracer of
`cnnlab.models.tracing`), so an input that is too small fails naming the layer, as everywhere. This module adds what the tutorial table needs on top: weights and biases apart,
the number of activation values each layer stores and their bytes, and the totals that decide
whether training fits in memory: activations per image (forward, and about twice that for
forward + backward), and weights + gradients + optimizer state at a given batch size.

Memory rules, stated once:
* An activation is counted where a layer stores a new tensor: the input image and every layer
  output, except layers that work in place (`ReLU(inplace=True)`), views (`Flatten`) and
  identities (`Identity`, `Dropout`, which returns its input at inference). This is the
  CS231n bookkeeping: its table lists CONV, POOL and FC outputs, not the ReLUs.
* Backward keeps one gradient per activation value, so forward + backward ≈ 2 × forward.
* Training holds the weights, one gradient per trainable weight and the optimizer's state:
  2 copies for Adam/AdamW (first and second moments), 1 for SGD with momentum and RMSprop.
* Bytes are counted at the model's floating-point dtype (float32: 4 bytes per value).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from cnnlab.errors import ModelError
from cnnlab.models.output_size import DryRun, MetaUnsupported, run_checked
from cnnlab.models.registry import build_model, model_info
from cnnlab.shapes import as_chw, format_shape

# Extra copies of the trainable weights an optimizer keeps.
OPTIMIZER_STATE_COPIES = {"adam": 2, "adamw": 2, "sgd": 1, "rmsprop": 1, "none": 0}

_NO_NEW_TENSOR = (nn.Identity, nn.Flatten, nn.modules.dropout._DropoutNd)


@dataclass(frozen=True)
class LayerRow:
    """One executed leaf layer; counts are per image."""

    name: str                     # qualified module name, e.g. 'features.0'
    kind: str                     # class name, e.g. 'Conv2d'
    output_shape: tuple[int, ...]  # without the batch dimension, e.g. (64, 224, 224)
    activations: int              # values in the output
    stores_activation: bool       # False for in-place layers, views and identities
    activation_bytes: int         # bytes the stored output takes (0 when not stored)
    weights: int
    biases: int
    params: int                   # all of the layer's own parameters (0 on a repeated call)
    trainable_params: int
    mult_adds: int                # torchinfo's count: a bias add counts as one multiply-add


@dataclass(frozen=True)
class ModelSummary:
    """Per-layer rows and the totals of one model at one input size, batch size and optimizer."""

    model_name: str
    input_shape: tuple[int, int, int]
    output_shape: tuple[int, ...]
    batch_size: int
    optimizer: str
    bytes_per_value: int
    rows: list[LayerRow] = field(repr=False)
    total_params: int
    trainable_params: int
    input_values: int
    activation_values: int        # per image, forward: input + stored layer outputs
    mult_adds: int                # per image

    @property
    def frozen_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def forward_activation_bytes(self) -> int:
        """Bytes of activations one image keeps during a forward pass."""
        return self.activation_values * self.bytes_per_value

    @property
    def training_activation_bytes(self) -> int:
        """Forward + backward for one image: one gradient per activation value, so 2×."""
        return 2 * self.forward_activation_bytes

    @property
    def param_bytes(self) -> int:
        return self.total_params * self.bytes_per_value

    @property
    def gradient_bytes(self) -> int:
        return self.trainable_params * self.bytes_per_value

    @property
    def optimizer_state_bytes(self) -> int:
        return OPTIMIZER_STATE_COPIES[self.optimizer] * self.trainable_params * self.bytes_per_value

    @property
    def training_bytes(self) -> int:
        """Weights + gradients + optimizer state + batch_size × forward/backward activations."""
        return (self.param_bytes + self.gradient_bytes + self.optimizer_state_bytes
                + self.batch_size * self.training_activation_bytes)

    @property
    def inference_bytes(self) -> int:
        """Weights + batch_size × forward activations (an upper bound: torch frees early)."""
        return self.param_bytes + self.batch_size * self.forward_activation_bytes

    def to_table(self) -> Table:
        """The per-layer table (rich), one row per executed leaf layer."""
        c, h, w = self.input_shape
        table = Table(title=f"{self.model_name} · input {c}×{h}×{w} · batch {self.batch_size}",
                      title_justify="left", header_style="bold", caption_justify="left",
                      caption="Values and memory per image; memory '—': the layer works in place, "
                              "is a view or an identity, and stores nothing new.")
        # overflow="fold": in a narrow terminal a number breaks across lines, never loses digits
        table.add_column("Layer", overflow="fold")
        table.add_column("Type", overflow="fold")
        for title in ("Output", "Values", "Memory", "Weights", "Biases", "Mult-adds"):
            table.add_column(title, justify="right", overflow="fold")
        table.add_row("input", "", format_shape(self.input_shape), f"{self.input_values:,}",
                      human_bytes(self.input_values * self.bytes_per_value), "", "", "")
        for row in self.rows:
            table.add_row(
                row.name, row.kind, format_shape(row.output_shape), f"{row.activations:,}",
                human_bytes(row.activation_bytes) if row.stores_activation else "—",
                f"{row.weights:,}" if row.weights else "", f"{row.biases:,}" if row.biases else "",
                f"{row.mult_adds:,}" if row.mult_adds else "")
        return table

    def totals(self) -> dict[str, int]:
        """The totals as plain numbers (bytes for memory), e.g. for a report or a test."""
        return {
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "frozen_params": self.frozen_params,
            "activation_values_per_image": self.activation_values,
            "forward_activation_bytes_per_image": self.forward_activation_bytes,
            "training_activation_bytes_per_image": self.training_activation_bytes,
            "mult_adds_per_image": self.mult_adds,
            "param_bytes": self.param_bytes,
            "gradient_bytes": self.gradient_bytes,
            "optimizer_state_bytes": self.optimizer_state_bytes,
            "training_bytes": self.training_bytes,
            "inference_bytes": self.inference_bytes,
        }

    def totals_table(self) -> Table:
        """The totals, each with how it is counted."""
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_column(style="dim")
        copies = OPTIMIZER_STATE_COPIES[self.optimizer]
        b = self.batch_size
        table.add_row("parameters", f"{self.total_params:,}",
                      f"trainable {self.trainable_params:,}, frozen {self.frozen_params:,}")
        table.add_row("activations / image", f"{self.activation_values:,} values",
                      f"{human_bytes(self.forward_activation_bytes)} forward, "
                      f"≈{human_bytes(self.training_activation_bytes)} forward + backward (×2)")
        table.add_row("multiply-adds / image", f"{self.mult_adds:,}", "")
        table.add_row("weights", human_bytes(self.param_bytes),
                      f"{self.bytes_per_value} bytes per value")
        table.add_row("gradients", human_bytes(self.gradient_bytes), "one per trainable weight")
        if copies:
            table.add_row(f"{self.optimizer} state", human_bytes(self.optimizer_state_bytes),
                          f"{copies} cop{'y' if copies == 1 else 'ies'} of the trainable weights")
        else:
            table.add_row("optimizer state", "none", "no optimizer counted (plain SGD without momentum keeps none)")
        state = " + optimizer state" if copies else ""
        table.add_row(f"training, batch {b}", human_bytes(self.training_bytes),
                      f"weights + gradients{state} + {b} × forward/backward activations")
        table.add_row(f"inference, batch {b}", human_bytes(self.inference_bytes),
                      f"weights + {b} × forward activations")
        return table

    def __str__(self) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=140, color_system=None, emoji=False)
        console.print(self.to_table())
        console.print(self.totals_table())
        return buffer.getvalue()


def human_bytes(n: int | float) -> str:
    """Decimal units as CS231n writes them: 93 MB = 93e6 bytes."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n)} B"


def _stores_activation(module: nn.Module) -> bool:
    return not (getattr(module, "inplace", False) is True or isinstance(module, _NO_NEW_TENSOR))


def _own_count(module: nn.Module, attribute: str) -> int:
    value = getattr(module, attribute, None)
    return value.numel() if isinstance(value, nn.Parameter) else 0


def _build_for_summary(name: str, num_classes: int | None,
                       input_shape: tuple[int, int, int] | str | None) -> tuple[nn.Module, tuple]:
    """Build a registry model on the meta device (shapes only: instant, no memory)."""
    info = model_info(name)
    shape = as_chw(input_shape) if input_shape is not None else (info.in_channels,
                                                                 *info.input_size)
    try:
        with torch.device("meta"):
            model = build_model(name, num_classes, shape[0], shape[1:])
    except ModelError:
        raise
    except (RuntimeError, NotImplementedError):  # a builder that computes with its weights
        model = build_model(name, num_classes, shape[0], shape[1:])
    return model, shape


def _torchinfo_pass(model: nn.Module, shape: tuple[int, int, int]) -> DryRun:
    """torchinfo's one forward pass, traced and checked (`run.output` is torchinfo's result)."""
    import torchinfo

    def forward(x: torch.Tensor):
        try:
            return torchinfo.summary(model, input_data=x, verbose=0, mode="eval", device=x.device,
                                     col_names=("output_size", "num_params", "mult_adds"))
        except RuntimeError as e:
            # torchinfo wraps the model's own error; unwrap it for the input check's message
            if e.__cause__ is not None and str(e).startswith("Failed to run torchinfo"):
                raise e.__cause__
            raise

    return run_checked(model, shape, forward)


def summary(model: nn.Module | str, input_shape: tuple[int, int, int] | str | None = None,
            batch_size: int = 1, optimizer: str = "adam",
            num_classes: int | None = None) -> ModelSummary:
    """Per-layer output shapes, parameters, activations and multiply-adds, with memory totals.

    `model` is a module or a registry name (built on the meta device, so even VGG-16 costs
    nothing; `num_classes` applies then). `input_shape` is (channels, height, width) or text
    '3x224x224'; by default the registry's natural size. `optimizer` is one of adam, adamw,
    sgd (with momentum), rmsprop, none. An input that is too small raises a ModelError naming
    the layer (see `check_input_size`). The model runs once, in torchinfo's pass.
    """
    if optimizer not in OPTIMIZER_STATE_COPIES:
        raise ModelError(f"optimizer={optimizer!r}: expected one of "
                         f"{', '.join(OPTIMIZER_STATE_COPIES)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ModelError(f"batch_size={batch_size!r}: expected a positive int")
    by_name = isinstance(model, str)
    if by_name:
        name = model
        model, shape = _build_for_summary(model, num_classes, input_shape)
    else:
        if num_classes is not None:
            raise ModelError("summary: num_classes applies only to a model given by name")
        arch = getattr(model, "cnnlab_architecture", None)
        name = arch["name"] if isinstance(arch, dict) else type(model).__name__
        if input_shape is None:
            if not isinstance(arch, dict):
                raise ModelError(f"summary of {name}: its input shape is unknown (no cnnlab "
                                 "architecture dict); give input_shape=(channels, height, width)")
            input_shape = (arch["in_channels"], *arch["input_size"])
        shape = as_chw(input_shape)

    try:
        run = _torchinfo_pass(model, shape)
    except MetaUnsupported:
        if not by_name:
            raise
        # the preset does something meta tensors cannot answer: build it for real, run again
        model = build_model(name, num_classes, shape[0], shape[1:])
        run = _torchinfo_pass(model, shape)
    stats, output_shape = run.output, run.output_shape
    tensors = list(model.parameters()) + list(model.buffers())
    floats = [t for t in tensors if t.is_floating_point()]
    dtype = floats[0].dtype if floats else torch.float32

    bytes_per_value = torch.empty((), dtype=dtype).element_size()
    names = {m: n for n, m in model.named_modules()}
    rows = []
    for info in stats.summary_list:
        if not info.is_leaf_layer:
            continue
        module = info.module
        out = info.output_size
        out_shape = tuple(out[1:]) if out and all(isinstance(v, int) for v in out) else ()
        values = int(torch.Size(out_shape).numel()) if out_shape else 0
        stores = _stores_activation(module)
        repeated = info.is_recursive
        params = 0 if repeated else sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LayerRow(
            name=names.get(module, info.var_name), kind=type(module).__name__,
            output_shape=out_shape, activations=values, stores_activation=stores,
            activation_bytes=values * bytes_per_value if stores else 0,
            weights=0 if repeated else _own_count(module, "weight"),
            biases=0 if repeated else _own_count(module, "bias"),
            params=params,
            trainable_params=0 if repeated else sum(
                p.numel() for p in module.parameters(recurse=False) if p.requires_grad),
            mult_adds=int(info.macs)))

    input_values = shape[0] * shape[1] * shape[2]
    return ModelSummary(
        model_name=name, input_shape=shape, output_shape=output_shape, batch_size=batch_size,
        optimizer=optimizer, bytes_per_value=bytes_per_value, rows=rows,
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        input_values=input_values,
        activation_values=input_values + sum(r.activations for r in rows if r.stores_activation),
        mult_adds=sum(r.mult_adds for r in rows))
