"""Reading and combining training configs; the settings themselves are declared in
`cnnlab.settings` (`TrainConfig`), once, and re-exported here.

`cnnlab train --config runs/NAME/config.yaml` re-runs a run exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnlab.config_io import from_mapping, read_yaml
from cnnlab.errors import ConfigError
from cnnlab.settings import (DEFAULT_TRANSFER_MODEL, MONITORS, OPTIMIZERS, PRECISIONS, SCHEDULERS, TRANSFER_MODES,
                             TrainConfig, with_settings)

__all__ = ["DEFAULT_TRANSFER_MODEL", "MONITORS", "OPTIMIZERS", "PRECISIONS", "SCHEDULERS", "TRANSFER_MODES",
           "TrainConfig", "config_from_dict", "load_config", "merge_settings"]


def config_from_dict(mapping: dict[str, Any], where: str = "config") -> TrainConfig:
    """A TrainConfig from a mapping (a loaded YAML), with field-naming errors."""
    if where == "config":
        return from_mapping(TrainConfig, mapping, where)
    try:
        return from_mapping(TrainConfig, mapping, where)
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None


def load_config(path: str | Path, settings: dict[str, Any] | None = None) -> TrainConfig:
    """Read a config file (yours, a run's config.yaml, or a packaged recipe by name: "keras-mnist")
    into a TrainConfig, with `settings` on top (named as for `fit`); built and checked once."""
    from cnnlab.recipes import find_config

    path = find_config(path)
    try:
        return with_settings(read_yaml(path), settings or {})
    except ConfigError as e:  # read_yaml's own errors already start with the path
        raise ConfigError(str(e) if str(e).startswith(f"{path}:") else f"{path}: {e}") from None


def merge_settings(base: TrainConfig | None, settings: dict[str, Any]) -> TrainConfig:
    """`base` (or the defaults) with `settings` on top; data fields may be given at the top level
    (e.g. `data_root=...`) or as `data={...}` / `data="mnist"`. No dict round trip: the base is
    copied with `dataclasses.replace` and only the given settings are checked anew."""
    return with_settings(base, settings)
