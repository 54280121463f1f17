"""From a TrainConfig to the model being trained: build it from the registry, set dropout, check
that the input fits, and (for transfer learning) hand over to `transfer_setup` for the weights
and the phases.
"""

from __future__ import annotations

from torch import nn

from cnnlab.data.bundle import DataBundle
from cnnlab.errors import ConfigError
from cnnlab.train.config import TrainConfig
from cnnlab.train.training_model import TrainingModel


def set_dropout(model: nn.Module, rate: float) -> int:
    """Set the rate of every Dropout layer; returns how many there were."""
    n = 0
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout)):
            m.p = rate
            n += 1
    return n


def build_training_model(cfg: TrainConfig, data: DataBundle, smoke: bool = False, user_model=None) -> TrainingModel:
    """Build the configured model for this data, check the input fits, apply dropout/transfer.
    A smoke run may stand random weights in for pretrained ones that are not on this machine.
    `user_model`: the nn.Module instance (or a class/factory without an import path) given to
    `fit(model=...)`, trained as it is."""
    from cnnlab.models import build_model
    from cnnlab.models.output_size import check_input_size
    from cnnlab.models.user_code import is_import_path

    if user_model is not None:
        if cfg.transfer != "none" or cfg.weights is not None:
            raise ConfigError("model: an nn.Module given to fit() trains as it is; transfer/weights need a "
                              "registry name or an import path package.module:factory")
        tm = user_training_model(cfg, data, user_model)
    elif cfg.transfer != "none" or cfg.weights is not None:
        from cnnlab.train.transfer_setup import build_transfer_model

        tm = build_transfer_model(cfg, data, smoke)
    else:
        model = build_model(cfg.model, num_classes=data.num_classes, in_channels=data.channels,
                            input_size=data.input_size, **cfg.model_kwargs)
        if getattr(model, "binary_output", False) and data.num_classes != 2:
            raise ConfigError(f"model: {cfg.model!r} has one sigmoid output, for two classes; the data has "
                              f"{data.num_classes} ({data.class_names})")
        arch = getattr(model, "cnnlab_architecture", None)
        if arch is None:
            raise ConfigError(f"model_kwargs: {cfg.model_kwargs} cannot be stored in a checkpoint "
                              "(use plain numbers, text, lists)")
        tm = TrainingModel(model, arch, bool(getattr(model, "binary_output", False)),
                           user_code=is_import_path(cfg.model))
    if cfg.dropout is not None:
        if set_dropout(tm.model, cfg.dropout) == 0:
            raise ConfigError(f"dropout: {cfg.model!r} has no Dropout layer to set (use a model with dropout, "
                              "or a pattern spec with a 'dropout' block)")
    check_input_size(tm.model, (data.channels, *data.input_size), label=cfg.model)
    return tm


def config_naming_the_built_model(cfg: TrainConfig, tm: TrainingModel) -> TrainConfig:
    """`cfg` with `model` set to the network actually built, for config.yaml and the log.

    A run given as `--weights` (multi-stage transfer) brings its own network, whatever `--model`
    says: without `--model` the config named the default (mnist-tiny) while stage 1's network
    trained. A `--model` other than the default that disagrees with the run is refused.
    """
    import dataclasses

    built = (tm.record or {}).get("backbone")
    if not built or built == cfg.model or not str((tm.record or {}).get("weights", "")).startswith("cnnlab run"):
        return cfg
    default = next(f.default for f in dataclasses.fields(type(cfg)) if f.name == "model")
    if cfg.model != default:
        raise ConfigError(f"model: {cfg.model!r}, but --weights {cfg.weights} is a run of {built!r}, whose network "
                          f"is what trains; leave out --model or pass --model {built}")
    return dataclasses.replace(cfg, model=built)


def user_training_model(cfg: TrainConfig, data: DataBundle, user_model) -> TrainingModel:
    """The model of `fit(model=<instance or class>)`. Its checkpoint records the class's import
    path, which later verbs import and build from the data's sizes; where that cannot rebuild
    it (a class in __main__, constructor options not recorded), the run's TorchScript copy
    serves predict and evaluate."""
    from cnnlab.models.architecture import architecture_record
    from cnnlab.models.user_code import size_arguments

    if isinstance(user_model, nn.Module):
        model = user_model
    else:
        model = user_model(**size_arguments(user_model, data.num_classes, data.channels, data.input_size),
                           **cfg.model_kwargs)
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model: {cfg.model} returned a {type(model).__name__}, not a torch nn.Module")
    arch = architecture_record(cfg.model, data.num_classes, data.channels, tuple(data.input_size), cfg.model_kwargs)
    return TrainingModel(model, arch, bool(getattr(model, "binary_output", False)), user_code=True)
