"""Every training setting with its default, written once; saved as the run's config.yaml.

The CLI and `fit(**settings)` both fill this dataclass, so a notebook user and a shell user
get the same defaults. `cnnlab train --config runs/NAME/config.yaml` re-runs a run exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.config_io import from_mapping, read_yaml, write_yaml
from cnnlab.data.augment import AUGMENT_PRESETS, Augment, resolve_augment
from cnnlab.data.bundle import DataConfig
from cnnlab.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")
MONITORS = {"val_loss": "min", "val_acc": "max", "train_loss": "min"}
PRECISIONS = ("32", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "64", "64-true")
TRANSFER_MODES = ("none", "extract-cached", "extract", "finetune")
# The backbone of `--transfer` when no model is named: its ImageNet weights ship in a package.
DEFAULT_TRANSFER_MODEL = "efficientnet_lite0"


@dataclass
class TrainConfig:
    """A training run, start to finish.

    Model: `model` is a registry name (see `cnnlab models`); `model_kwargs` are passed to it;
    `dropout`, when set, replaces the rate of every Dropout layer.
    Optimisation: `optimizer` with `lr`, `momentum`/`nesterov` (SGD, RMSprop), `weight_decay`
    (the L2 term), `label_smoothing`, `grad_clip` (max gradient norm), `accumulate` (batches per
    optimizer step).
    Schedule: `scheduler` "step" (`step_size` epochs, `gamma`), "cosine", "onecycle",
    "plateau" (`plateau_patience`, `gamma`), or "none"; `warmup_epochs` of linear warmup first.
    Early stopping: `patience` epochs without a `min_delta` improvement of `monitor` stop the
    run (None: never); `restore_best` loads the best weights at the end.
    Devices: Lightning Fabric's `accelerator`, `devices`, `num_nodes`, `strategy`, `precision`.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: str = "mnist-tiny"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    dropout: float | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    accumulate: int = 1
    augment: str | dict[str, Any] = "none"
    scheduler: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    plateau_patience: int = 3
    warmup_epochs: float = 0.0
    monitor: str = "val_loss"
    patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = True
    class_weights: str | list[float] | None = None
    # transfer learning
    weights: str | None = None
    transfer: str = "none"
    unfreeze: str = "all"
    head: list[int] = field(default_factory=list)
    head_dropout: float = 0.0
    head_epochs: int = 0
    finetune_lr: float | None = None
    backbone_lr_mult: float = 1.0
    # devices and speed
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32"
    channels_last: bool = False
    compile: bool = False
    num_workers: int = 0
    # run folder and logging
    seed: int = 0
    name: str | None = None
    project: str = "runs"
    tensorboard: bool = False
    report: bool = True  # write report.html (evaluation, Grad-CAM, feature maps) when the run ends
    evaluate_test: bool = True
    max_steps: int | None = None  # stop each epoch after this many batches (smoke runs)

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(f"{name}: {getattr(self, name)!r} (expected {expected})")

        if isinstance(self.data, str):
            self.data = DataConfig(source=self.data)
        elif isinstance(self.data, dict):
            self.data = from_mapping(DataConfig, self.data, "data")
        for name in ("epochs", "batch_size", "accumulate", "devices", "num_nodes", "step_size", "plateau_patience"):
            if getattr(self, name) < 1:
                raise bad(name, "a whole number ≥ 1")
        if self.lr <= 0:
            raise bad("lr", "a positive learning rate, e.g. 1e-3")
        for name in ("weight_decay", "momentum", "min_delta", "warmup_epochs", "head_dropout", "num_workers"):
            if getattr(self, name) < 0:
                raise bad(name, "a value ≥ 0")
        if not 0 <= self.label_smoothing < 1:
            raise bad("label_smoothing", "0 ≤ value < 1")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise bad("dropout", "0 ≤ rate < 1")
        if not 0 < self.gamma <= 1:
            raise bad("gamma", "0 < gamma ≤ 1")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise bad("grad_clip", "a positive max norm, or null")
        if self.patience is not None and self.patience < 1:
            raise bad("patience", "a whole number ≥ 1, or null to never stop early")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", " or ".join(OPTIMIZERS))
        if self.scheduler not in SCHEDULERS:
            raise bad("scheduler", " or ".join(SCHEDULERS))
        if self.monitor not in MONITORS:
            raise bad("monitor", " or ".join(MONITORS))
        if self.precision not in PRECISIONS:
            raise bad("precision", " or ".join(PRECISIONS))
        if self.transfer not in TRANSFER_MODES:
            raise bad("transfer", " or ".join(TRANSFER_MODES))
        if isinstance(self.class_weights, str) and self.class_weights != "auto":
            raise bad("class_weights", "'auto', a list of one weight per class, or null")
        if self.max_steps is not None and self.max_steps < 1:
            raise bad("max_steps", "a whole number ≥ 1, or null")
        if self.name is not None and (not self.name or "/" in self.name or self.name.startswith(".")):
            raise bad("name", "a folder name without '/' or a leading '.'")
        if self.transfer != "none" and self.model == "mnist-tiny" and self.weights in (None, "imagenet"):
            self.model = DEFAULT_TRANSFER_MODEL  # the default model has no ImageNet weights; this one works offline
        unfreeze = str(self.unfreeze)
        if unfreeze != "all" and not (unfreeze.isdigit() and int(unfreeze) >= 1):
            raise bad("unfreeze", "'all' or a number of top blocks ≥ 1")
        self.unfreeze = unfreeze
        if any(not isinstance(h, int) or h < 1 for h in self.head):
            raise bad("head", "a list of positive layer widths, e.g. [512, 256]")
        if not 0 <= self.head_dropout < 1:
            raise bad("head_dropout", "0 ≤ rate < 1")
        if self.backbone_lr_mult <= 0:
            raise bad("backbone_lr_mult", "a positive factor, e.g. 0.1")
        if self.finetune_lr is not None and self.finetune_lr <= 0:
            raise bad("finetune_lr", "a positive learning rate, or null for lr/10")
        if self.transfer == "extract-cached" and not self.augmentation.is_identity:
            raise ConfigError(f"augment: {self.augment!r} cannot be used with transfer 'extract-cached' (the features "
                              "are computed once, so no augmentation is possible); use transfer 'extract' to augment")
        self.augmentation  # validates the augment setting now, not mid-run

    @property
    def augmentation(self) -> Augment:
        """The resolved augmentation (a preset name or a mapping of fields)."""
        if isinstance(self.augment, str) and self.augment not in AUGMENT_PRESETS:
            raise ConfigError(f"augment: unknown preset {self.augment!r}; choose one of {sorted(AUGMENT_PRESETS)}")
        return resolve_augment(self.augment)

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (YAML- and checkpoint-safe)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["data"] = self.data.to_dict()
        d["head"] = list(self.head)
        return d

    def save(self, path: str | Path) -> None:
        write_yaml(self.to_dict(), path)


def config_from_dict(mapping: dict[str, Any], where: str = "config") -> TrainConfig:
    """A TrainConfig from a mapping (a loaded YAML), with field-naming errors."""
    return from_mapping(TrainConfig, mapping, where)


def load_config(path: str | Path) -> TrainConfig:
    """Read a config.yaml (a recipe or a run's own) into a TrainConfig."""
    try:
        return config_from_dict(read_yaml(path))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def merge_settings(base: TrainConfig | None, settings: dict[str, Any]) -> TrainConfig:
    """`base` (or the defaults) with `settings` on top; data fields may be given at the top level
    (e.g. `data_root=...`) or as `data={...}` / `data="mnist"`."""
    d = base.to_dict() if base is not None else {}
    data_fields = {f.name for f in dataclasses.fields(DataConfig)}
    data_over: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "data":
            if isinstance(value, DataConfig):
                value = value.to_dict()
            if isinstance(value, str):
                data_over["source"] = value
            elif isinstance(value, dict):
                data_over.update(value)
            else:
                raise ConfigError(f"data: {value!r} (expected a source name, a folder, or a mapping)")
        elif key in data_fields and key not in ("seed",):
            data_over[key] = value
        elif key == "split_seed":
            data_over["seed"] = value
        else:
            d[key] = value
    if data_over:
        d["data"] = {**d.get("data", {}), **{k: (str(v) if k in ("source", "data_root") and v is not None else v)
                                             for k, v in data_over.items()}}
    for key in ("image_size",):
        if isinstance(d.get("data", {}).get(key), tuple):
            d["data"][key] = list(d["data"][key])
    return config_from_dict(d)
