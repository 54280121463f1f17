"""Every data and training setting, declared once: name, type, default, help and range.

`DataConfig` (where the images come from and how they are prepared) and `TrainConfig` (a
training run) are plain dataclasses whose fields are made with `setting()`. Everything else
reads these declarations: `fit(**settings)` and config files (checked by `check_settings`),
the run's config.yaml (`to_dict`), and the `cnnlab train` options with the defaults `--help`
shows (generated in `cnnlab.cli.settings`). A new setting is one field here.

This module imports neither torch nor the stages, so `cnnlab --help` stays fast; the checks
that need a stage (augmentation presets) import it when a config is built.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from cnnlab.config_io import Declared, check_settings, comma_list, declared_settings, setting, to_plain
from cnnlab.errors import ConfigError
from cnnlab.shapes import as_hw

# PIL's own decompression-bomb threshold (about 0.25 GiB of RGBA). Larger images are refused
# before any pixel is decoded.
MAX_IMAGE_PIXELS = 89_478_485

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
# The learning rate when none is given, per optimizer, as Keras' and timm's defaults: SGD with
# momentum 0.9 needs ten times Adam's (3 epochs of SGD + cosine on the digits at 1e-3: 18.8 %).
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}
SCHEDULERS = ("none", "step", "cosine", "onecycle", "plateau")
MONITORS = {"val_loss": "min", "val_acc": "max", "train_loss": "min"}
PRECISIONS = ("32", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "64", "64-true")
TRANSFER_MODES = ("none", "extract-cached", "extract", "finetune")
BALANCE_MODES = ("none", "sampler", "loss")
# The backbone of `--transfer` when no model is named: its ImageNet weights ship in a package.
DEFAULT_TRANSFER_MODEL = "efficientnet_lite0"

def _number_as_text(value: Any, name: str) -> Any:
    """`unfreeze: 2` in a file or `unfreeze=2` in Python means the text "2"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _class_weights(value: Any, name: str) -> Any:
    """"auto", or one weight per class written "1,4" on the command line."""
    return value if value == "auto" else comma_list(float)(value, name)


# numpy's (and so Lightning's seed_everything's) seeds are 0 ≤ seed < 2**32
MAX_SEED = 2**32 - 1
# Run folder names: most file systems take 255 bytes; a name stays well below, for the suffixes
MAX_NAME = 100
# Beyond this a batch is no longer a batch (the whole MNIST training set is 60,000 images)
MAX_BATCH_SIZE = 1 << 20

DATA = "Data"
MODEL = "Model"
OPTIMISATION = "Optimisation"
SCHEDULE = "Schedule and early stopping"
TRANSFER = "Transfer learning"
DEVICES = "Devices and speed"
RUN = "Run folder and logging"


@dataclass
class DataConfig:
    """Where the images come from and how they are prepared; saved in every run's config.yaml.

    Each field's help (`cnnlab train --help`, or `declared_settings(DataConfig)`) says what it
    does; `source` is "digits", "mnist", "fashion-mnist", "cifar10", or a folder of images.
    """

    source: str = setting("digits", "digits, mnist, fashion-mnist, cifar10, or an image folder",
                          flag="data", short="-d", group=DATA)
    data_root: str | None = setting(None, "Root of the built-in data sets", group=DATA,
                                    shown_default="$CNNLAB_DATA, else ./data")
    download: bool = setting(False, "Download a missing built-in data set (needs the network)", group=DATA)
    image_size: tuple[int, int] | None = setting(
        None, "Resize images to HxW (or one number for square)", group=DATA, parse=as_hw,
        shown_default="the source's own (folders: the most common size)")
    channels: int | None = setting(None, "Convert images to 1 (grey) or 3 (RGB) channels", group=DATA,
                                   choices=(1, 3), expected="1 or 3", shown_default="the source's own")
    normalize: str | list[list[float]] = setting(
        "dataset", "dataset (training-split statistics), imagenet, half ([-1, 1]), none; a config file "
        "may give the mean and std lists", group=DATA)
    resize: str = setting("stretch", "stretch, or crop (shorter side, then the centre)", option=False,
                          choices=("stretch", "crop"))
    val_fraction: float = setting(0.1, "Share of train held out for validation when the source has no "
                                  "val split (each class keeps at least one image there)", option=False, gt=0, lt=1,
                                  expected="0 < fraction < 1")
    split: tuple[float, float, float] = setting(
        (0.8, 0.1, 0.1), "train/val/test ratios of a source that is one pool (digits, a folder of "
        "classes); every class keeps at least one image in each split with a positive ratio", option=False,
        parse=comma_list(float))
    seed: int = setting(0, "Seed of every split and subset (the same seed, the same split)",
                        flag="split_seed", group=DATA, ge=0, le=MAX_SEED)
    classes: list[str] | None = setting(None, "Keep only these comma-separated class names, "
                                        "relabelled in this order", group=DATA, parse=comma_list(str),
                                        shown_default="all")
    per_class: int | None = setting(None, "At most this many training images per class", group=DATA, ge=1,
                                    expected="a positive whole number or null", shown_default="all")
    limit: int | None = setting(None, "At most this many images per split (a stratified subset; quick runs)",
                                group=DATA, ge=1, expected="a positive whole number or null",
                                shown_default="all")
    in_memory: bool | str = setting("auto", "Hold decoded images in memory: true, false, or auto (when "
                                    "they fit)", option=False, choices=(True, False, "auto"),
                                    expected="true, false or auto")
    max_pixels: int = setting(MAX_IMAGE_PIXELS, "Refuse images with more pixels than this (decompression "
                              "bombs)", option=False, ge=1)

    def __post_init__(self) -> None:
        check_settings(self, "data")
        split = self.split
        if (len(split) != 3 or any(s < 0 for s in split) or split[0] <= 0 or split[1] <= 0
                or abs(sum(split) - 1) > 1e-6):
            raise ConfigError(f"data.split: {list(split)} (expected three non-negative ratios "
                              "train, val, test summing to 1, with train > 0 and val > 0; test 0 means no test split)")
        if self.classes is not None and len(set(self.classes)) < 2:
            raise ConfigError(f"data.classes: {self.classes} (expected at least two different class names)")

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (YAML- and checkpoint-safe)."""
        return to_plain(self)


@dataclass
class TrainConfig:
    """A training run, start to finish; every field is a setting with its help and range.

    Early stopping: `patience` epochs without a `min_delta` improvement of `monitor` stop the
    run (None: never); `restore_best` loads the best weights at the end. The schedule "plateau"
    decays by `gamma` after `plateau_patience` epochs without improvement. Devices are Lightning
    Fabric's `accelerator`, `devices`, `num_nodes`, `strategy` and `precision`.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: str = setting("mnist-tiny", "Registry name (see `cnnlab models`); with --transfer and no model: "
                         + DEFAULT_TRANSFER_MODEL, short="-m", group=MODEL)
    model_kwargs: dict[str, Any] = setting({}, "Options of the model preset (--model-arg key=value)",
                                           option=False)
    dropout: float | None = setting(None, "Rate of every Dropout layer of the model", group=MODEL, ge=0, lt=1,
                                    expected="0 ≤ rate < 1", shown_default="the preset's own")
    epochs: int = setting(10, "Passes over the training split", short="-e", group=OPTIMISATION, ge=1,
                          expected="a whole number ≥ 1")
    batch_size: int = setting(64, "Images per optimizer step (per device)", short="-b", group=OPTIMISATION,
                              ge=1, le=MAX_BATCH_SIZE, expected=f"a whole number, 1 ≤ value ≤ {MAX_BATCH_SIZE:,}")
    lr: float | None = setting(None, "Learning rate", group=OPTIMISATION, gt=0,
                               expected="a positive learning rate, e.g. 1e-3",
                               shown_default="sgd 0.01; adam, adamw, rmsprop 1e-3")
    optimizer: str = setting("adam", "Optimizer", group=OPTIMISATION, choices=OPTIMIZERS)
    momentum: float = setting(0.9, "Momentum of SGD and RMSprop", group=OPTIMISATION, ge=0)
    nesterov: bool = setting(False, "Nesterov momentum (SGD)", group=OPTIMISATION)
    weight_decay: float = setting(0.0, "L2 penalty on the weights", group=OPTIMISATION, ge=0)
    label_smoothing: float = setting(0.0, "Share of each target spread over the other classes "
                                     "(cross-entropy label smoothing)", group=OPTIMISATION, ge=0, lt=1)
    grad_clip: float | None = setting(None, "Clip gradients to this max norm", group=OPTIMISATION, gt=0,
                                      expected="a positive max norm, or null", shown_default="no clipping")
    accumulate: int = setting(1, "Batches per optimizer step (gradient accumulation)", group=OPTIMISATION,
                              ge=1, expected="a whole number ≥ 1")
    augment: str | dict[str, Any] = setting("none", "Augmentation preset (listed below), or a mapping of "
                                            "fields in a config file", group=OPTIMISATION)
    mixup: float = setting(0.0, "MixUp alpha: blend image pairs and their labels (torchvision v2 MixUp; "
                           "0 off, 0.2 usual)", group=OPTIMISATION, ge=0, expected="an alpha ≥ 0")
    cutmix: float = setting(0.0, "CutMix alpha: paste a box of another image, labels mixed by area "
                            "(torchvision v2 CutMix; 0 off, 1.0 usual); with --mixup, one of the two per batch",
                            group=OPTIMISATION, ge=0, expected="an alpha ≥ 0")
    ema: bool = setting(False, "Keep a moving average of the weights (timm ModelEmaV3) and validate, save and "
                        "test it instead of the live weights", group=OPTIMISATION)
    ema_decay: float = setting(0.9998, "--ema: largest decay per optimizer step (it warms up from 0: "
                               "1 − (1 + step)^(−2/3))", group=OPTIMISATION, gt=0, lt=1, expected="0 < decay < 1")
    balance: str = setting("none", "Imbalanced classes: sampler (each class drawn equally often, torch's "
                           "WeightedRandomSampler) or loss (inverse-frequency class weights, as --class-weights auto)",
                           group=OPTIMISATION, choices=BALANCE_MODES)
    class_weights: str | list[float] | None = setting(
        None, "auto (inverse class frequency), or one weight per class", group=OPTIMISATION,
        parse=_class_weights, shown_default="equal weights")
    scheduler: str = setting("none", "Learning-rate schedule", group=SCHEDULE, choices=SCHEDULERS)
    step_size: int = setting(10, "step: epochs per decay", group=SCHEDULE, ge=1, expected="a whole number ≥ 1")
    gamma: float = setting(0.1, "step, plateau: decay factor", group=SCHEDULE, gt=0, le=1,
                           expected="0 < gamma ≤ 1")
    plateau_patience: int = setting(3, "plateau: epochs without improvement before a decay", group=SCHEDULE,
                                    ge=1, expected="a whole number ≥ 1")
    warmup_epochs: float = setting(0.0, "Epochs of linear warmup first", group=SCHEDULE, ge=0)
    monitor: str = setting("val_loss", "Metric of early stopping and of the best checkpoint", group=SCHEDULE,
                           choices=tuple(MONITORS))
    patience: int | None = setting(None, "Stop after this many epochs without improvement", group=SCHEDULE,
                                   ge=1, expected="a whole number ≥ 1, or null to never stop early",
                                   shown_default="never stop early")
    min_delta: float = setting(0.0, "Smallest improvement of the monitored metric that counts", group=SCHEDULE,
                               ge=0)
    restore_best: bool = setting(True, "Load the best weights when the run ends", group=SCHEDULE)
    # transfer learning
    weights: str | None = setting(None, "imagenet, a weights file, or a run folder", group=TRANSFER,
                                  shown_default="random initialisation")
    transfer: str = setting("none", "Transfer learning mode; `cnnlab train --transfer finetune` also brings AdamW, "
                            "warm-up + cosine per phase, label smoothing and channels-last where not given. "
                            "A folder of photos with no --model: efficientnet_lite0, finetune",
                            group=TRANSFER, choices=TRANSFER_MODES)
    unfreeze: str = setting("all", "finetune: top N blocks, or all (cnnlab train on efficientnet_lite0: 5)",
                            group=TRANSFER, parse=_number_as_text)
    head: list[int] = setting([], "Hidden sizes of the new head, e.g. 512,256", group=TRANSFER,
                              parse=comma_list(int))
    head_dropout: float = setting(0.0, "Dropout in the new head", group=TRANSFER, ge=0, lt=1,
                                  expected="0 ≤ rate < 1")
    head_epochs: int = setting(0, "finetune: epochs of head-only training first", group=TRANSFER, ge=0)
    finetune_lr: float | None = setting(None, "finetune: learning rate after unfreezing", group=TRANSFER, gt=0,
                                        expected="a positive learning rate, or null for lr/10",
                                        shown_default="lr/10")
    backbone_lr_mult: float = setting(1.0, "Backbone learning rate = lr × this", group=TRANSFER, gt=0,
                                      expected="a positive factor, e.g. 0.1")
    lr_decay: float = setting(0.7, "finetune: each unfrozen block trains at this × the rate of the block "
                              "above it (discriminative rates; 1 turns them off)", group=TRANSFER, gt=0, le=1,
                              expected="0 < factor ≤ 1")
    bn_frozen: bool = setting(True, "finetune: BatchNorm layers stay in inference mode with their ImageNet "
                              "statistics (the Keras book's trainable=False on BN)", group=TRANSFER)
    cached_head: bool = setting(True, "finetune: train the head phase on features computed once (no "
                                "augmentation in that phase; the fine-tuning phase augments)", group=TRANSFER)
    # devices and speed
    device: str | None = setting(None, "One device: cpu, cuda, cuda:N or mps (as timm and Ultralytics take it)",
                                 group=DEVICES, shown_default="accelerator and devices")
    accelerator: str = setting("auto", "auto, cpu, cuda or mps", group=DEVICES)
    devices: int = setting(1, "Devices (processes) per node, for data parallel", group=DEVICES, ge=1,
                           expected="a whole number ≥ 1")
    threads: int | None = setting(None, "Torch CPU threads of each process", group=DEVICES, ge=1,
                                  expected="a whole number ≥ 1, or null",
                                  shown_default="$OMP_NUM_THREADS, else torch's (one per core)")
    num_nodes: int = setting(1, "Nodes (with torchrun)", group=DEVICES, ge=1, expected="a whole number ≥ 1")
    strategy: str = setting("auto", "auto, ddp or ddp_spawn", group=DEVICES)
    precision: str = setting("32", "Numeric precision", group=DEVICES, choices=PRECISIONS)
    channels_last: bool = setting(False, "Channels-last memory format", group=DEVICES)
    compile: bool = setting(False, "torch.compile the model", group=DEVICES)
    num_workers: int = setting(0, "Decoding workers for streamed folders", group=DEVICES, ge=0)
    max_steps: int | None = setting(None, "At most this many batches per epoch (smoke runs)", group=DEVICES, ge=1,
                                    expected="a whole number ≥ 1, or null", shown_default="all")
    # run folder and logging
    seed: int = setting(0, "Seed of the batch order, augmentation and initial weights (--split-seed "
                        "seeds the split)", group=RUN, ge=0, le=MAX_SEED)
    name: str | None = setting(None, "Run folder name", group=RUN, shown_default="exp, exp2, ...")
    project: str = setting("runs", "Folder of run folders", group=RUN)
    exist_ok: bool = setting(False, "Reuse the run folder of --name even when it holds a run (that run's files "
                             "are replaced)", group=RUN, shown_default="a new folder: name2, name3, ...")
    tensorboard: bool = setting(False, "Write TensorBoard events", group=RUN)
    report: bool = setting(True, "Write report.html (evaluation, Grad-CAM, feature maps) when the run ends",
                           group=RUN)
    evaluate_test: bool = setting(True, "Evaluate the best model on the test split when the run ends",
                                  option=False)

    def __post_init__(self) -> None:
        if isinstance(self.data, str):
            self.data = DataConfig(source=self.data)
        elif isinstance(self.data, dict):
            from cnnlab.config_io import from_mapping

            self.data = from_mapping(DataConfig, self.data, "data")
        elif not isinstance(self.data, DataConfig):
            raise ConfigError(f"data: {self.data!r} (expected a source name, a folder, or a mapping)")
        check_settings(self)
        # lr None: the optimizer's default (kept as given, so a later optimizer change picks its own)
        self._lr_given = self.lr is not None
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]

        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(f"{name}: {getattr(self, name)!r} (expected {expected})")

        if isinstance(self.class_weights, str) and self.class_weights != "auto":
            raise bad("class_weights", "'auto', a list of one weight per class, or null")
        if self.name is not None and (not self.name or "/" in self.name or self.name.startswith(".")
                                      or len(self.name) > MAX_NAME or not self.name.isprintable()):
            raise bad("name", f"a folder name of at most {MAX_NAME} printable characters, without '/' "
                              "or a leading '.'")
        if isinstance(self.class_weights, (list, tuple)) and (any(w < 0 for w in self.class_weights)
                                                              or not any(w > 0 for w in self.class_weights)):
            raise bad("class_weights", "one weight ≥ 0 per class, at least one of them > 0")
        if self.transfer != "none" and self.model == "mnist-tiny" and self.weights in (None, "imagenet"):
            self.model = DEFAULT_TRANSFER_MODEL  # the default model has no ImageNet weights; this one works offline
        if self.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?|mps", self.device):
            raise bad("device", "cpu, cuda, cuda:N (N a GPU index) or mps")
        if self.device is not None and self.devices > 1:
            raise ConfigError(f"device: {self.device!r} picks one device; devices: {self.devices} asks for data "
                              "parallel over several (use accelerator with devices, or device alone)")
        if self.unfreeze != "all" and not (self.unfreeze.isdigit() and int(self.unfreeze) >= 1):
            raise bad("unfreeze", "'all' or a number of top blocks ≥ 1")
        if any(h < 1 for h in self.head):
            raise bad("head", "a list of positive layer widths, e.g. [512, 256]")
        self._resolved_augment: tuple[Any, Any] | None = None
        augmentation = self.augmentation  # checks the augment setting now, not mid-run
        if self.transfer == "extract-cached" and not augmentation.is_identity:
            raise ConfigError(f"augment: {self.augment!r} cannot be used with transfer 'extract-cached' (the features "
                              "are computed once, so no augmentation is possible); use transfer 'extract' to augment")
        if self.balance == "loss" and self.class_weights is not None:
            raise ConfigError(f"balance: 'loss' and class_weights: {self.class_weights!r} (both set the loss's class "
                              "weights; give one of them)")
        if self.balance == "sampler" and self.transfer == "extract-cached":
            raise ConfigError("balance: 'sampler' cannot be used with transfer 'extract-cached' (its feature "
                              "batches are drawn in plain order); use balance 'loss', or transfer 'extract'")
        if self.transfer == "extract-cached" and (self.mixup > 0 or self.cutmix > 0):
            raise ConfigError(f"mixup/cutmix: {self.mixup}/{self.cutmix} cannot be used with transfer 'extract-cached' "
                              "(the head trains on cached features, not images); use transfer 'extract' to mix images")

    @property
    def augmentation(self):
        """The resolved `Augment` of the `augment` setting (a preset name or a mapping of fields).

        Resolved once, when the config is built (which checks it), and kept while `augment` stays.
        """
        spec = self.augment
        cached = getattr(self, "_resolved_augment", None)
        if cached is None or cached[0] != spec:
            from cnnlab.data.augment import resolve_augment

            cached = (spec if isinstance(spec, str) else dict(spec), resolve_augment(spec))
            self._resolved_augment = cached
        return cached[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (YAML- and checkpoint-safe): the run's config.yaml."""
        return to_plain(self)

    def save(self, path) -> None:
        from cnnlab.config_io import write_yaml

        write_yaml(self.to_dict(), path)


def all_settings() -> dict[str, Declared]:
    """Every setting by the name `fit(**settings)` and the command line use: DataConfig's by
    their flag (`data`, `split_seed`, ...), then TrainConfig's."""
    return {d.flag: d for cls in (DataConfig, TrainConfig) for d in declared_settings(cls)}


def with_settings(base: TrainConfig | dict[str, Any] | None, settings: dict[str, Any]) -> TrainConfig:
    """`base` with `settings` on top, built and checked once.

    base: a TrainConfig, a mapping as read from a config file (field names, `data` a mapping or
    a source name), or None for the defaults. settings: named as in `all_settings()`; data
    fields may be given at the top level (`data_root=...`, `split_seed=...`) or as
    `data={...}` / `data="mnist"` / a DataConfig.
    """
    from cnnlab.config_io import unknown_key

    names = all_settings()
    train: dict[str, Any] = {}
    data: dict[str, Any] = {}
    data_base: DataConfig | dict[str, Any] | None = None
    if isinstance(base, dict):
        fields = [f.name for f in dataclasses.fields(TrainConfig)]
        for key in base:
            if key not in fields:
                raise unknown_key(key, fields)
        train = {k: v for k, v in base.items() if k != "data"}
        given = base.get("data")
        if given is not None and not isinstance(given, (str, dict)):
            raise ConfigError(f"data: {str(given)[:80]} (expected a source name, a folder, or a mapping)")
        data_base = {"source": given} if isinstance(given, str) else given
    elif base is not None:
        data_base = base.data
    for key, value in settings.items():
        if key == "data" and isinstance(value, DataConfig):
            data_base, data = value, {}
        elif key == "data" and isinstance(value, dict):
            data.update(value)
        elif key in names:
            (data if names[key].owner is DataConfig else train)[names[key].name] = value
        else:
            raise unknown_key(key, sorted(names))
    if isinstance(data_base, DataConfig):
        if data:
            known = [f.name for f in dataclasses.fields(DataConfig)]
            for key in data:
                if key not in known:
                    raise unknown_key(key, known, "data")
            data_base = dataclasses.replace(data_base, **data)
        if base is None or isinstance(base, dict) or data_base is not base.data:
            train["data"] = data_base
    elif data or data_base is not None:
        train["data"] = {**(data_base or {}), **data}
    if isinstance(base, TrainConfig):
        if train and "lr" not in train and not base._lr_given:
            train["lr"] = None  # still the optimizer's default (a new optimizer's, if it changed)
        return dataclasses.replace(base, **train) if train else base
    return TrainConfig(**train)
