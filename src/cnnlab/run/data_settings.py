"""A run's data settings: resolved once, at train time, saved as data.yaml, read by every verb.

Training fills in what the model needs where the user left a default (a preset's natural input
size: the 8×8 digits become 28×28 for the MNIST presets; the normalisation an augmentation preset
or pretrained weights imply). `fit` writes the result beside config.yaml, so evaluate, explain,
export and the report load the very splits the run trained and tested on without resolving
anything again. Runs older than data.yaml, and a config.yaml edited since (to point at moved
data), are resolved here from config.yaml, else from the config inside the checkpoint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from cnnlab.atomic import atomic_write_text
from cnnlab.config_io import from_mapping, read_yaml
from cnnlab.errors import ConfigError, DataError
from cnnlab.settings import DataConfig, TrainConfig, with_settings


def resolve_data_config(cfg: TrainConfig) -> DataConfig:
    """The data settings with the model's needs filled in: a preset's natural input size when
    none is given (a digit is upsampled for a 28×28 MNIST model), and the normalisation an
    augmentation preset implies (the tutorial's Normalize(0.5, 0.5))."""
    from cnnlab.models import model_info

    from cnnlab.models.user_code import CodeNotImportable

    d = dataclasses.replace(cfg.data)
    try:
        info = model_info(cfg.model)
    except CodeNotImportable:  # fit(model=<instance>) of a class without an import path: it takes the data's size
        info = None
    if d.image_size is None and info is not None and info.input_size is not None and not info.flexible_input:
        d.image_size = tuple(info.input_size)
    if d.normalize == "dataset" and cfg.augmentation.normalize is not None:
        d.normalize = cfg.augmentation.normalize
    if cfg.transfer != "none" or cfg.weights is not None:
        d = pretrained_data_needs(cfg, d)
    return d


def weights_kind(weights: str | None) -> str:
    """"imagenet", "run" (a cnnlab run folder or checkpoint) or "file" (a state dict)."""
    from cnnlab.run.checkpoint import FORMAT

    if weights in (None, "imagenet"):
        return "imagenet"
    path = Path(weights)
    if path.is_dir():
        return "run"
    if not path.is_file():
        raise ConfigError(f"weights: {weights!r} is not 'imagenet', a run folder or a weights file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return "file"  # read_weights_file reports why it cannot be read
    return "run" if isinstance(state, dict) and state.get("format") == FORMAT else "file"


def pretrained_data_needs(cfg: TrainConfig, d: DataConfig) -> DataConfig:
    """The data settings the starting weights need, where the user left the defaults.

    ImageNet weights: three channels, the backbone's natural input size and the mean/std the
    weights were trained with (EfficientNet-Lite0: 0.5/0.5, i.e. [-1, 1]; torchvision: ImageNet's).
    A previous cnnlab run: its channels, input size and normalisation.
    """
    from cnnlab.models import model_info
    from cnnlab.models.pretrained import imagenet_normalization

    d = dataclasses.replace(d)
    user = cfg.data  # what was asked for, before the model's defaults were filled in
    if weights_kind(cfg.weights) == "run":
        from cnnlab.run.checkpoint import load_checkpoint

        pre = load_checkpoint(cfg.weights)["preprocessing"]
        if user.channels not in (None, pre["channels"]):
            raise ConfigError(f"data.channels: {user.channels}, but the model in {cfg.weights} reads "
                              f"{pre['channels']}-channel images")
        d.channels = pre["channels"]
        d.image_size = tuple(user.image_size or pre["input_size"])
        if user.normalize == "dataset":
            d.normalize = [list(pre["mean"]), list(pre["std"])]
        return d
    if user.channels == 1:
        raise ConfigError(f"data.channels: 1, but {cfg.model} pretrained weights read RGB images (use channels 3; "
                          "grey images are repeated to three channels)")
    d.channels = 3
    d.image_size = tuple(user.image_size or model_info(cfg.model).input_size)
    if user.normalize == "dataset" and cfg.augmentation.normalize is None:
        mean, std = imagenet_normalization(cfg.model)
        d.normalize = [list(mean), list(std)]
    return d


# --- data.yaml ------------------------------------------------------------------------------
# `asked` is the data section of config.yaml when the run trained; `resolved` is what it loaded.
# When config.yaml's data section no longer matches `asked`, the user edited it since (to point
# at moved data, say): that edit wins, and the settings are resolved again from config.yaml.

DATA_SETTINGS_HEADER = """\
# The data settings this run trained on, written by fit. `resolved` is what evaluate, explain,
# export and the report load; `asked` is config.yaml's data section at train time (edit that
# section, or `resolved` here, to point the run at data that moved).
"""


def write_data_settings(path: Path, asked: DataConfig, resolved: DataConfig) -> Path:
    """Save the data settings a run trained on (atomically)."""
    text = yaml.safe_dump({"asked": asked.to_dict(), "resolved": resolved.to_dict()}, sort_keys=False,
                          default_flow_style=None)
    return atomic_write_text(path, DATA_SETTINGS_HEADER + text)


def read_data_settings(path: Path) -> tuple[DataConfig, DataConfig]:
    """(asked, resolved) from a run's data.yaml."""
    saved = read_yaml(path)
    try:
        return (from_mapping(DataConfig, saved.get("asked", {}), "asked"),
                from_mapping(DataConfig, saved.get("resolved", {}), "resolved"))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def run_data_config(data_file: Path | None, config_file: Path | None,
                    checkpoint: Callable[[], Any], where: str) -> DataConfig:
    """A run's data settings: data.yaml's when config.yaml still asks for the same data, else
    resolved from config.yaml, else from the checkpoint's own config; a `DataError` when none of
    them exists (a model built in memory, a bare checkpoint). `checkpoint()` gives the
    checkpoint's dict, asked for only when neither file is there."""
    config = None
    if config_file is not None and config_file.is_file():
        config = saved_config(read_yaml(config_file), str(config_file))
    if data_file is not None and data_file.is_file():
        asked, resolved = read_data_settings(data_file)
        if config is None or config.data == asked:
            return resolved
    if config is not None:
        return resolve_data_config(config)
    saved = checkpoint()
    saved = saved.get("config") if isinstance(saved, dict) else None
    if isinstance(saved, dict):
        return resolve_data_config(saved_config(saved, f"{where}: config"))
    raise DataError(f"{where}: no config.yaml beside the checkpoint and no config inside it, so the "
                    "run's data is unknown; pass the data explicitly (--data mnist, --data path/to/folder)")


def saved_config(settings: dict[str, Any], where: str) -> TrainConfig:
    """A training config as saved (config.yaml, or the config inside a checkpoint), checked."""
    try:
        return with_settings(settings, {})
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None
