"""`fit()`: the training loop, top to bottom.

It reads like the tutorial loop it replaces: build data, model, optimizer and schedule; then
per epoch `train_one_epoch`, `validate`, check early stopping, save `best` and `last`. Lightning
Fabric places the model on the device, runs mixed precision, and handles data-parallel training
(several processes, launched by Fabric itself or by torchrun); the loop stays plain PyTorch.

`fit` stops at the run folder (checkpoints, history, curves, metrics and the data settings it
resolved); evaluation and the report are composed after it by `cnnlab.pipeline`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.data import load_data
from cnnlab.data.augment import warn_if_flip_mislabels
from cnnlab.data.bundle import DataBundle
from cnnlab.data.mixing import BatchMixer, batch_mixer
from cnnlab.errors import CheckpointError, CnnlabError, ConfigError, DataError
from cnnlab.run import files
from cnnlab.run.checkpoint import load_checkpoint, load_model, rng_state, set_rng_state
from cnnlab.run.data_settings import resolve_data_config
from cnnlab.run.lock import RunLock
from cnnlab.run.writer import RunWriter
from cnnlab.settings import DataConfig
from cnnlab.train.allocator import keep_freed_memory
from cnnlab.train.callbacks import Hooks, MetricMonitor
from cnnlab.train.ema import WeightEma
from cnnlab.train.config import MONITORS, TrainConfig, config_from_dict, load_config, merge_settings
from cnnlab.train.devices import fabric_devices, threads_for
from cnnlab.train.losses import inverse_frequency_weights, make_criterion
from cnnlab.train.model_setup import build_training_model, config_naming_the_built_model
from cnnlab.train.optim import LRSchedule, build_optimizer
from cnnlab.train.progress import TrainLogger
from cnnlab.train.single_device import SingleDevice, needs_lightning
from cnnlab.train.training_model import TrainingModel


class NonFiniteLossError(CnnlabError):
    """The loss became NaN or infinite; the run stopped and its last good checkpoint was kept."""


@dataclass
class TrainResult:
    """What `fit` returns: the run folder, per-epoch history, best epoch and final metrics."""

    run_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_value: float
    metrics: dict[str, Any]
    stopped_early: bool
    model: nn.Module
    class_names: list[str]
    config: TrainConfig
    rank_info: list[dict[str, Any]] = field(default_factory=list)
    rank: int = 0  # the global rank of the process that returned this (0 writes the run folder)
    already_finished: bool = False  # --resume of a run with no epochs left: nothing was trained or written


def fit(config: TrainConfig | str | Path | None = None, *, resume: str | Path | None = None,
        quiet: bool = False, smoke: bool = False, class_names: list[str] | None = None,
        callbacks: list[Any] | None = None, **settings: Any) -> TrainResult:
    """Train a model and write its run folder; returns a `TrainResult`.

    `config` is a TrainConfig, a YAML file, or None for the defaults; `settings` override any
    field (data fields such as `data_root` or `image_size` may be given at the top level):

        fit(data="mnist", model="keras-mnist", optimizer="rmsprop", epochs=5, batch_size=64)

    `model` may also be your own code: an import path "package.module:factory", an nn.Module
    class, or an instance (trained as it is, with its current weights):

        fit(data="digits", model=SmallNet(), epochs=3)

    `data` may also be your own: a `load_data()` bundle, or (train, val[, test]) torch Datasets
    or DataLoaders, with `class_names=` when they have no `classes` (`cnnlab.data.user_data`).

    `callbacks=[...]`: objects with `on_batch_end`, `on_epoch_end` and/or `on_fit_end`, each
    called with a `FitState` (epoch, history so far, model; `state.stop_training = True` ends the
    run), as Keras and Lightning callbacks are (`cnnlab.train.callbacks.Callback`).

    `resume="runs/NAME"` continues that run from its last checkpoint (`epochs` may be raised).
    `smoke=True` checks a config end to end in seconds: one epoch of a few batches, on a small
    part of its data, or on random stand-in images of the same shape when the data is absent.
    The run folder gets config.yaml, data.yaml, history.csv, best.pt, last.pt, curves.png and
    metrics.json; `cnnlab.pipeline.train_and_report` adds the evaluation and report.html.
    """
    given = Given.take(settings, class_names)
    given.callbacks = list(callbacks or [])
    if resume is not None:
        cfg = _resume_config(resume, settings)
        done = _finished_result(resume, cfg)
        if done is not None:
            if not quiet:
                TrainLogger(enabled=True).print(
                    f"{done.run_dir}: finished ({len(done.history)} of {cfg.epochs} epochs"
                    f"{', stopped early' if done.stopped_early else ''}); nothing to resume. "
                    f"To train longer: cnnlab train --resume {done.run_dir} --epochs {cfg.epochs + 10}")
            return done
    elif isinstance(config, (str, Path)):
        cfg = load_config(config, settings)
    else:
        cfg = merge_settings(config, settings)
    if smoke:
        cfg = merge_settings(cfg, {"epochs": 1, "max_steps": 3, "limit": min(cfg.data.limit or 10**9, 96),
                                   "devices": 1, "num_nodes": 1, "accelerator": "cpu", "device": None,
                                   "compile": False})
    fabric = make_fabric(cfg)
    if fabric.world_size > 1 and not _launched_externally():
        # Fabric spawns the other processes (gloo on CPU, NCCL on GPU) and returns rank 0's
        # result. Tensors cannot outlive the process that shared them, so the workers return
        # the result without the model, and the weights come back from the run folder.
        result = fabric.launch(_fit_spawned, cfg, resume, quiet, smoke, given)
        weights = files.resolve_checkpoint_path(result.run_dir, prefer=files.BEST if cfg.restore_best else files.LAST)
        result.model = load_model(weights).model
        return result
    fabric.launch()
    return _fit_process(fabric, cfg, resume, quiet, smoke, given)


def make_fabric(cfg: TrainConfig):
    """Lightning Fabric for the configured devices, nodes, strategy and precision.

    One process on the CPU at 32-bit gets `SingleDevice`, the same calls without importing
    Lightning (about 6 s of a short run here).
    """
    accelerator, devices = fabric_devices(cfg)  # checked against this machine before anything starts
    count = len(devices) if isinstance(devices, list) else devices
    if not needs_lightning(accelerator, count, cfg.num_nodes, cfg.strategy, cfg.precision, _launched_externally()):
        return SingleDevice("cpu")
    from lightning.fabric import Fabric

    world = cfg.devices * cfg.num_nodes
    strategy = cfg.strategy
    if strategy == "auto" and world > 1 and not _launched_externally():
        strategy = "ddp_spawn"  # no script to re-run from a notebook or a test: spawn the workers
    if cfg.precision == "16-mixed" and "cpu" in (cfg.accelerator, cfg.device):
        raise ConfigError("precision: '16-mixed' needs a GPU; on the CPU use 'bf16-mixed' or '32'")
    try:
        return Fabric(accelerator=accelerator, devices=devices, num_nodes=cfg.num_nodes,
                      strategy=strategy, precision=cfg.precision)
    except (ValueError, RuntimeError, TypeError) as e:
        raise ConfigError(f"devices/precision: {e}") from None


def _launched_externally() -> bool:
    """True under torchrun (or SLURM), which started one process per device already."""
    return "TORCHELASTIC_RUN_ID" in os.environ or ("LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ)


# Settings a resumed run may take from an edited config.yaml (or the command line): they change
# how long it runs or what it prints, not what the epochs already trained mean.
RESUME_CHANGEABLE = ("epochs", "patience", "num_workers", "report", "tensorboard", "evaluate_test")


def _resume_config(resume: str | Path, settings: dict[str, Any]) -> TrainConfig:
    """The config a resumed run continues with.

    From the checkpoint, with what may change taken from an edited config.yaml and from
    `settings`; any other edit of config.yaml is refused with the fields that differ (it is
    never silently written over). A run killed before its first checkpoint starts again in its
    folder from its config.yaml.
    """
    folder = files.run_folder_of(resume)
    checkpoint = files.resume_checkpoint(resume)
    written = folder / files.CONFIG
    changeable = {"quiet", *RESUME_CHANGEABLE}
    fixed = sorted(k for k, v in settings.items() if k not in changeable and v is not None)
    if fixed:
        raise ConfigError(f"resume: {fixed} cannot change when resuming (only {', '.join(RESUME_CHANGEABLE)} can); "
                          "start a new run to change them")
    given = {k: v for k, v in settings.items() if v is not None and k != "quiet"}
    if not checkpoint.exists() and checkpoint.name == files.LAST and written.is_file():
        return load_config(written, given)  # killed before epoch 1 ended: start again, same folder
    if not checkpoint.exists():
        raise CheckpointError(f"{checkpoint}: nothing to resume (no checkpoint, and no {files.CONFIG} in "
                              f"{folder}); is it a cnnlab run folder?")
    ckpt = load_checkpoint(checkpoint)
    cfg = config_from_dict(ckpt["config"])
    if written.is_file():
        edited = load_config(written).to_dict()
        trained = cfg.to_dict()
        differ = [k for k in trained if k not in RESUME_CHANGEABLE and edited.get(k) != trained[k]]
        if differ:
            shown = "; ".join(f"{k}: {trained[k]!r} → {edited.get(k)!r}" for k in differ[:6])
            raise ConfigError(f"{written}: edited since the run trained ({shown}); --resume continues the run as "
                              f"it was trained, where only {', '.join(RESUME_CHANGEABLE)} may change. Undo the "
                              f"edit, or start a new run from it: cnnlab train --config {written}")
        cfg = merge_settings(cfg, {k: edited[k] for k in RESUME_CHANGEABLE if edited.get(k) != trained[k]})
    return merge_settings(cfg, given) if given else cfg


def _finished_result(resume: str | Path, cfg: TrainConfig) -> TrainResult | None:
    """The result of a run that has nothing left to train (None when epochs remain)."""
    checkpoint = files.resume_checkpoint(resume)
    if not checkpoint.is_file():
        return None
    ckpt = load_checkpoint(checkpoint)
    from cnnlab.run import Run

    run = Run(files.run_folder_of(resume), checkpoint)
    metrics = run.metrics()
    trained = config_from_dict(ckpt["config"])
    stopped = bool(metrics.get("stopped_early")) and cfg.epochs <= trained.epochs
    if int(ckpt["epoch"]) < cfg.epochs and not stopped:
        return None
    monitor = ckpt.get("monitor", {})
    loaded = load_model(files.resolve_checkpoint_path(run.folder))
    return TrainResult(run.folder, list(ckpt["history"]), int(monitor.get("best_epoch", ckpt["epoch"])),
                       float(monitor.get("best", math.nan)), metrics, stopped, loaded.model, loaded.class_names, cfg,
                       already_finished=True)


def _fit_spawned(fabric, cfg: TrainConfig, resume: str | Path | None, quiet: bool, smoke: bool,
                 given: Given | None = None) -> TrainResult:
    result = _fit_process(fabric, cfg, resume, quiet, smoke, given)
    result.model = None
    return result


def load_training_data(cfg: TrainConfig, smoke: bool = False, given: Given | None = None) -> DataBundle:
    """The run's data; in a smoke run, a same-shaped stand-in when the data is not here."""
    data_cfg = resolve_data_config(cfg)
    if given is not None and given.data is not None:
        from cnnlab.data.user_data import bundle_from_objects

        return bundle_from_objects(given.data, data_cfg, given.class_names)
    try:
        return load_data(data_cfg)
    except DataError:
        if not smoke:
            raise
        from cnnlab.data.standin import standin_bundle

        return standin_bundle(data_cfg)


@dataclass
class Given:
    """What `fit` was handed as Python objects rather than settings: your model (an instance, or
    a class/factory without an import path) and your data (a bundle, Datasets or DataLoaders)."""

    model: Any = None
    data: Any = None
    class_names: list[str] | None = None
    callbacks: list[Any] = field(default_factory=list)  # fit(callbacks=[...]): the user's hooks

    @classmethod
    def take(cls, settings: dict[str, Any], class_names: list[str] | None = None) -> Given:
        """Move the objects out of `settings`, leaving the settings that record them."""
        given = cls(class_names=list(class_names) if class_names is not None else None)
        if settings.get("model") is not None and not isinstance(settings["model"], str):
            from cnnlab.models.user_code import as_model_setting

            settings["model"], given.model = as_model_setting(settings["model"])
        from cnnlab.data.user_data import is_user_data, recorded_source

        if is_user_data(settings.get("data")):
            given.data = settings.pop("data")
            config = getattr(given.data, "config", None)
            settings["data"] = config if isinstance(config, DataConfig) else recorded_source(given.data)
        elif class_names is not None:
            raise ConfigError("class_names: only for data given as Datasets or DataLoaders (other sources "
                              "name their classes; --classes picks some)")
        return given


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """The seed of one epoch's dropout and other global randomness: a resumed run replays it."""
    return (seed * 1_000_003 + epoch * 7919 + rank * 104_729) % (2**63)


@dataclass
class Training:
    """What the loop works with, built once by `build_training` and stepped epoch by epoch."""

    cfg: TrainConfig
    data: DataBundle
    tm: TrainingModel
    model: nn.Module       # as Fabric set it up (and torch.compile'd): what the loop calls
    raw_model: nn.Module   # the plain module: what checkpoints hold
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    monitor: MetricMonitor
    train_loader: Any
    val_loader: Any
    steps_per_epoch: int
    mixer: BatchMixer | None = None  # --mixup / --cutmix: soft targets in the training loss
    ema: WeightEma | None = None     # --ema: the averaged weights are validated, saved and tested
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 1
    # finetune with `cached_head`: the head phase's (train, val) loaders over cached features;
    # the image loaders take over when the fine-tuning phase begins
    head_loaders: tuple[Any, Any] | None = None
    image_loaders: tuple[Any, Any] | None = None

    hooks: Hooks = field(default_factory=Hooks)  # the user's callbacks (on the process that writes the run)

    def use_phase_loaders(self) -> None:
        """Point train/val at the loaders of the current phase (features in the head phase)."""
        if self.head_loaders is not None and self.image_loaders is not None:
            self.train_loader, self.val_loader = self.head_loaders if self.tm.phase_index == 0 else self.image_loaders

    def phase_schedule(self) -> LRSchedule:
        """The learning-rate schedule of the current phase, over that phase's epochs: each phase
        warms up and decays on its own (a fine-tuning phase starting at the end of a cosine would
        never get a useful rate)."""
        cfg = self.cfg
        return LRSchedule(self.optimizer, cfg.scheduler, self.tm.phase_epochs(cfg.epochs), self.steps_per_epoch,
                          cfg.step_size, cfg.gamma, cfg.warmup_epochs, cfg.plateau_patience, MONITORS[cfg.monitor])

    @property
    def eval_model(self) -> nn.Module:
        """The model that is validated, kept as best and tested: the weight average with --ema."""
        return self.ema.module if self.ema is not None else self.model

    def checkpoint_state(self, epoch: int) -> dict[str, Any]:
        """Everything --resume needs, and what a checkpoint needs to predict on its own.

        With --ema, `model` is the averaged model (what every later verb loads) and the live
        weights travel as `live_model` for --resume.
        """
        extra = {} if self.ema is None else {"live_model": self.raw_model.state_dict(), "ema": self.ema.state_dict()}
        return {"model": self.eval_model_weights(), **extra, "architecture": self.tm.architecture,
                "class_names": self.data.class_names, "preprocessing": self.data.preprocessing.to_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.schedule.state_dict(),
                "monitor": self.monitor.state_dict(), "phase": self.tm.phase_state(), "epoch": epoch,
                "history": self.history, "config": self.cfg.to_dict(), "rng": rng_state(),
                "frozen": self.tm.frozen_summary()}

    def eval_model_weights(self) -> dict[str, torch.Tensor]:
        return (self.ema.module if self.ema is not None else self.raw_model).state_dict()

    def notes(self) -> list[str]:
        """One line for each training-time addition the run uses (printed at the start)."""
        balance = []
        if self.cfg.balance == "sampler":
            balance = ["balancing: each class drawn equally often (WeightedRandomSampler, with replacement)"]
        elif self.cfg.balance == "loss":
            weights = _class_weights(self.cfg, self.data).tolist()
            balance = [f"balancing: loss weighted by inverse class frequency {[round(w, 3) for w in weights]}"]
        return balance + \
               ([f"mixing: {self.mixer.describe()}"] if self.mixer is not None else []) + \
               ([f"averaging: {self.ema.describe()}"] if self.ema is not None else [])

    def resume_from(self, ckpt: dict[str, Any]) -> None:
        """Continue where a checkpoint stopped: weights, optimizer, schedule, phase, history, RNG."""
        if self.ema is not None and "live_model" not in ckpt:
            raise ConfigError("ema: true, but the checkpoint to resume holds no weight average (the run was "
                              "trained without --ema); resume it without --ema")
        if self.ema is None and "live_model" in ckpt:
            raise ConfigError("ema: false, but the checkpoint to resume was trained with --ema; resume it with --ema")
        self.raw_model.load_state_dict(ckpt["live_model"] if self.ema is not None else ckpt["model"])
        if self.ema is not None:
            self.ema.load_state_dict(ckpt["model"], ckpt.get("ema", {}))
        self.monitor.load_state_dict(ckpt["monitor"])
        self.tm.load_phase_state(ckpt.get("phase", {}))
        # The saved phase's schedule, built before the optimizer's state is loaded: building a torch
        # scheduler resets every group's lr to its start, which would undo the saved (decayed) rates.
        self.schedule = self.phase_schedule()
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["scheduler"])
        self.history = list(ckpt["history"])
        self.start_epoch = int(ckpt["epoch"]) + 1
        self.use_phase_loaders()
        set_rng_state(ckpt.get("rng", {}))


def _fit_process(fabric, cfg: TrainConfig, resume: str | Path | None, quiet: bool, smoke: bool = False,
                 given: Given | None = None) -> TrainResult:
    """One process's run, top to bottom: data, model and optimizer, the run folder, the epochs,
    then the test split and metrics.json."""
    set_up_process(fabric, cfg)
    given = given or Given()
    data = load_training_data(cfg, smoke, given)
    t = build_training(fabric, cfg, data, smoke, given.model)
    t.hooks = Hooks(given.callbacks if fabric.is_global_zero else [])
    cfg = t.cfg = config_naming_the_built_model(cfg, t.tm)  # multi-stage: the weights' run decides the network

    run = open_run_folder(fabric, cfg, resume)
    with RunLock(run.path) if run.enabled else contextlib.nullcontext():
        return _train_in_folder(fabric, cfg, resume, quiet, data, t, run)


def _train_in_folder(fabric, cfg: TrainConfig, resume: str | Path | None, quiet: bool, data: DataBundle,
                     t: Training, run: RunWriter) -> TrainResult:
    """The part of `_fit_process` that writes the run folder (rank 0 holds its lock meanwhile)."""
    if resume is not None and files.resume_checkpoint(resume).is_file():  # else: killed before epoch 1 ended
        t.resume_from(load_checkpoint(files.resume_checkpoint(resume), map_location=fabric.device))
    run.write_config(_yaml(cfg))
    run.write_data_settings(cfg.data, data.config)  # what every later verb loads
    if t.tm.record:  # transfer: weights, blocks, what is frozen in which phase, feature cache
        run.write_transfer(t.tm.record)
    log = TrainLogger(enabled=fabric.is_global_zero and not quiet,
                      tensorboard_dir=run.tensorboard_dir if cfg.tensorboard and fabric.is_global_zero else None)
    flip_warning = warn_if_flip_mislabels(cfg.augmentation, data.class_names, emit=False)
    _print_start(log, cfg, data, t.tm, run.path, flip_warning, resume is not None, t.start_epoch)
    for note in t.notes():
        log.print(note, highlight=False)

    stopped_early = train_epochs(fabric, t, run, log)
    metrics = finish(fabric, t, run, log, stopped_early)

    rank_info = _gather_rank_info(fabric, t.raw_model, run)
    return TrainResult(run.path, t.history, t.monitor.best_epoch, t.monitor.best, metrics, stopped_early,
                       t.raw_model.cpu().eval(), data.class_names, cfg, rank_info, fabric.global_rank)


def set_up_process(fabric, cfg: TrainConfig) -> None:
    """Threads, memory reuse and the seed of this process."""
    threads = threads_for(cfg, fabric.world_size, fabric.device.type == "cpu")
    if threads is not None:
        torch.set_num_threads(threads)
    if fabric.device.type == "cpu":
        keep_freed_memory()  # reuse freed activation memory instead of page-faulting every step
    fabric.seed_everything(cfg.seed, verbose=False)  # the same initial weights on every rank


def build_training(fabric, cfg: TrainConfig, data: DataBundle, smoke: bool = False,
                   user_model: Any = None) -> Training:
    """Model, loss, optimizer, loaders, learning-rate schedule and early stopping, set up by Fabric."""
    tm: TrainingModel = build_training_model(cfg, data, smoke, user_model)
    weights = _class_weights(cfg, data)
    criterion = make_criterion(tm.binary_output, weights.to(fabric.device) if weights is not None else None,
                               cfg.label_smoothing)
    optimizer = build_optimizer(tm.param_groups(cfg.lr), cfg.optimizer, cfg.lr, cfg.weight_decay,
                                cfg.momentum, cfg.nesterov)
    shards = {"device": fabric.device, "channels_last": cfg.channels_last, "rank": fabric.global_rank,
              "world_size": fabric.world_size, "num_workers": cfg.num_workers}
    train_loader = data.loader("train", cfg.batch_size, augment=cfg.augmentation, seed=cfg.seed,
                               balance=cfg.balance == "sampler", **shards)
    val_loader = data.loader("val", max(cfg.batch_size, 256), **shards)
    head_loaders = image_loaders = None
    if cfg.transfer == "extract-cached" or (cfg.transfer == "finetune" and cfg.cached_head and len(tm.phases) > 1):
        # the frozen base runs once (or not at all: cached); the head trains on features
        from cnnlab.train.transfer_setup import cached_feature_loaders

        image_loaders = (train_loader, val_loader)
        head_loaders = train_loader, val_loader = cached_feature_loaders(tm, data, cfg, fabric.device)
        if cfg.transfer == "extract-cached":
            head_loaders = image_loaders = None
    steps_per_epoch = _optimizer_steps(len(train_loader), cfg)
    schedule = LRSchedule(optimizer, cfg.scheduler, tm.phase_epochs(cfg.epochs), steps_per_epoch, cfg.step_size,
                          cfg.gamma, cfg.warmup_epochs, cfg.plateau_patience, MONITORS[cfg.monitor])
    monitor = MetricMonitor(cfg.monitor, MONITORS[cfg.monitor], cfg.patience, cfg.min_delta)
    model = tm.model.to(memory_format=torch.channels_last) if cfg.channels_last else tm.model
    raw_model = model
    model, optimizer = fabric.setup(model, optimizer)
    if cfg.compile:
        model = torch.compile(model)
    mixer = batch_mixer(data.num_classes, cfg.mixup, cfg.cutmix)
    ema = WeightEma(raw_model, cfg.ema_decay) if cfg.ema else None  # a copy of the weights, on their device
    return Training(cfg, data, tm, model, raw_model, criterion, optimizer, schedule, monitor, train_loader,
                    val_loader, steps_per_epoch, mixer, ema, head_loaders=head_loaders,
                    image_loaders=image_loaders)


def open_run_folder(fabric, cfg: TrainConfig, resume: str | Path | None) -> RunWriter:
    """The run folder: the resumed one, or a new one made by rank 0 (the others learn its name)."""
    if resume is not None:
        path = files.run_folder_of(resume)
    else:
        path = files.new_run_dir(cfg.project, cfg.name, cfg.exist_ok) if fabric.is_global_zero else None
        path = Path(fabric.broadcast(str(path) if path else None, src=0))
    return RunWriter(path, enabled=fabric.is_global_zero)


def train_epochs(fabric, t: Training, run: RunWriter, log: TrainLogger) -> bool:
    """The loop: train, validate, keep the best, stop early. Returns True when it stopped early.

    A NaN loss or Ctrl-C leaves a metrics.json saying so (and the checkpoints of the last good
    epoch) before the error goes on to the caller.
    """
    cfg, monitor = t.cfg, t.monitor
    try:
        for epoch in range(t.start_epoch, cfg.epochs + 1):
            if t.tm.start_epoch(epoch, t.optimizer, cfg):  # transfer: a new phase (e.g. unfreeze) begins
                t.schedule = t.phase_schedule()
                t.use_phase_loaders()
                log.print(f"epoch {epoch}: {t.tm.phase_message()}")
            torch.manual_seed(epoch_seed(cfg.seed, epoch, fabric.global_rank))
            t.train_loader.set_epoch(epoch)
            log.start_epoch(epoch, cfg.epochs, _batches_per_epoch(len(t.train_loader), cfg))
            start = time.perf_counter()
            train_loss, train_acc, seen = train_one_epoch(fabric, t.model, t.train_loader, t.criterion, t.optimizer,
                                                          t.schedule, cfg, epoch, log, t.tm.binary_output, t.mixer,
                                                          t.ema, t.hooks)
            seconds = time.perf_counter() - start
            val_loss, val_acc = validate(fabric, t.eval_model, t.val_loader, t.criterion, t.tm.binary_output)
            row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss,
                   "val_acc": val_acc, "lr": t.schedule.lr, "seconds": seconds, "images_per_s": seen / seconds}
            t.history.append(row)
            improved = monitor.update(row[cfg.monitor], epoch)
            t.schedule.step_epoch(row[cfg.monitor])
            if run.enabled:
                run.save_checkpoints(t.checkpoint_state(epoch), best=improved)
            run.write_history(t.history, monitor.best_epoch)
            log.end_epoch(row, improved)
            stop = t.hooks.call("on_epoch_end", epoch=epoch, epochs=cfg.epochs, history=list(t.history),
                                model=t.raw_model, run_dir=run.path)
            if fabric.world_size > 1:  # rank 0 runs the callbacks; every rank stops with it
                stop = bool(fabric.broadcast(stop, src=0))
            if stop:
                log.print(f"stopped by a callback after epoch {epoch}")
                return True
            if monitor.should_stop:
                log.print(f"early stopping: {cfg.monitor} did not improve by more than {cfg.min_delta} "
                          f"for {cfg.patience} epochs (best {monitor.best:.4f} at epoch {monitor.best_epoch})")
                return True
            fabric.barrier()
    except NonFiniteLossError as e:
        run.write_history(t.history, monitor.best_epoch, final=True)
        run.write_metrics({"status": "diverged", "error": str(e), "epochs_completed": len(t.history)})
        log.close()
        raise
    except KeyboardInterrupt:
        run.write_history(t.history, curves=False)
        run.write_metrics({"status": "interrupted", "epochs_completed": len(t.history)})
        log.print(f"[yellow]interrupted[/yellow]: {len(t.history)} epoch(s) saved in {run.path}; "
                  f"continue with: cnnlab train --resume {run.path}")
        log.close()
        raise
    return False


def finish(fabric, t: Training, run: RunWriter, log: TrainLogger, stopped_early: bool) -> dict[str, Any]:
    """Best weights back, the test split's loss and accuracy, metrics.json; returns the metrics."""
    cfg, monitor, data, history = t.cfg, t.monitor, t.data, t.history
    fabric.barrier()  # rank 0 has written best.pt
    run.write_history(history, monitor.best_epoch, final=True)  # curves.png of every epoch (drawn at most every few s)
    if t.ema is not None:  # from here on the run's model is the weight average (as its checkpoints are)
        t.raw_model.load_state_dict(t.ema.module.state_dict())
    if cfg.restore_best and history and monitor.best_epoch not in (-1, history[-1]["epoch"]):
        best = load_checkpoint(files.resolve_checkpoint_path(run.path), map_location=fabric.device)  # shared disk
        t.raw_model.load_state_dict(best["model"])
    metrics: dict[str, Any] = {"status": "finished", "best_epoch": monitor.best_epoch, cfg.monitor: monitor.best,
                               "epochs_completed": len(history), "stopped_early": stopped_early,
                               "data": data.summary(), "parameters": t.tm.parameter_counts()}
    if t.ema is not None:
        metrics["weights"] = {"ema": True, "decay_cap": cfg.ema_decay, "last_decay": t.ema.decay, "steps": t.ema.steps}
    if cfg.evaluate_test and data.test is not None:
        test_loader = data.loader("test", max(cfg.batch_size, 256), device=fabric.device,
                                  channels_last=cfg.channels_last, rank=fabric.global_rank, world_size=fabric.world_size)
        test_loss, test_acc = validate(fabric, t.model, test_loader, t.criterion, t.tm.binary_output)
        metrics.update(test_loss=test_loss, test_acc=test_acc)
        log.print(f"test: loss {test_loss:.4f}, accuracy {test_acc:.4f} ({len(data.test):,} images, "
                  f"{'averaged ' if t.ema is not None else ''}weights of epoch "
                  f"{monitor.best_epoch if cfg.restore_best else len(history)})")
    if t.tm.user_code:  # your own code: a TorchScript copy serves predict/evaluate where it cannot be imported
        example = torch.zeros(1, data.channels, *data.input_size, device=next(t.raw_model.parameters()).device)
        untraceable = run.write_scripted(t.raw_model, example)
        if untraceable:
            log.print(f"[yellow]note:[/yellow] no TorchScript copy of {cfg.model} ({untraceable}); every verb "
                      "will need its code importable")
    run.write_metrics(metrics)
    t.hooks.call("on_fit_end", metrics=metrics, history=list(history), model=t.raw_model, run_dir=run.path)
    log.print(f"run folder: [bold]{run.path}[/bold]")
    log.close()
    return metrics


def _optimizer_steps(batches: int, cfg: TrainConfig) -> int:
    return math.ceil(_batches_per_epoch(batches, cfg) / cfg.accumulate)


def _batches_per_epoch(batches: int, cfg: TrainConfig) -> int:
    return min(batches, cfg.max_steps) if cfg.max_steps else batches


def train_one_epoch(fabric, model: nn.Module, loader, criterion, optimizer: torch.optim.Optimizer,
                    schedule: LRSchedule, cfg: TrainConfig, epoch: int, log: TrainLogger,
                    binary: bool, mixer: BatchMixer | None = None,
                    ema: WeightEma | None = None, hooks: Hooks | None = None) -> tuple[float, float, int]:
    """One pass over the training batches; returns mean loss, accuracy and images seen (all ranks).

    With a `mixer` (MixUp/CutMix) the loss takes the soft targets and the accuracy counts a
    prediction right when it is the class with the largest share of the mixed image. An `ema`
    takes in the weights after every optimizer step. `hooks`: the user's `on_batch_end` callbacks.
    """
    model.train()
    total_loss = torch.zeros((), device=fabric.device, dtype=torch.float64)
    correct = torch.zeros((), device=fabric.device, dtype=torch.long)
    seen = 0
    start = time.perf_counter()
    n_batches = _batches_per_epoch(len(loader), cfg)
    last_update = 0.0
    check_every = 1 if fabric.device.type == "cpu" else 25
    for step, (x, y) in enumerate(loader, start=1):
        if step > n_batches:
            break
        accumulating = step % cfg.accumulate != 0 and step != n_batches
        target = y
        if mixer is not None and x.dim() == 4:  # images; a head phase on cached features is not mixed
            x, soft = mixer(x, y)
            target = soft[:, 1] if binary else soft  # one logit: the target is P(class 1)
            y = soft.argmax(1)
        with fabric.no_backward_sync(model, enabled=accumulating and fabric.world_size > 1):
            logits = model(x)
            loss = criterion(logits, target)
            fabric.backward(loss / cfg.accumulate)
        with torch.no_grad():
            total_loss.add_(loss.detach(), alpha=len(y))  # float64 running sum, one op
            pred = (logits.reshape(-1) > 0).long() if binary else logits.argmax(1)
            correct += (pred == y).sum()
        # A NaN or inf loss makes the running sum non-finite for good, so the sum is the flag.
        # Reading a GPU value every step stalls the pipeline, so on an accelerator it is read
        # every few steps; on the CPU there is nothing to stall and it is read each step.
        if (step % check_every == 0 or step == n_batches) and not bool(torch.isfinite(total_loss)):
            raise NonFiniteLossError(
                f"loss became {float(loss.detach()):.3g} at epoch {epoch}, step {step} (lr {schedule.lr:.3g}); "
                "the run stopped and kept its last good checkpoint. Try a lower learning rate "
                "(--lr), gradient clipping (--grad-clip 1.0), or a warmup (--warmup-epochs 1)")
        if not accumulating:
            if cfg.grad_clip is not None:
                fabric.clip_gradients(model, optimizer, max_norm=cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            schedule.step_batch()
            if ema is not None:
                ema.update(model)
        seen += len(y)
        # A callback's stop ends the epoch at once on one process; in data parallel the ranks
        # must agree, so there it takes effect at the epoch's end.
        if hooks is not None and hooks.per_batch and fabric.world_size == 1 and \
                hooks.call("on_batch_end", epoch=epoch, batch=step, loss=float(loss.detach())):
            break
        now = time.perf_counter()
        if log.enabled and (now - last_update > 0.25 or step == n_batches):
            last_update = now
            log.update(step, float(total_loss) / seen, int(correct) / seen, seen * fabric.world_size / (now - start))
    sums = fabric.all_reduce(torch.stack([total_loss, correct.double(),
                                          torch.tensor(float(seen), device=fabric.device, dtype=torch.float64)]),
                             reduce_op="sum")
    total, n = float(sums[0]), float(sums[2])
    return total / max(n, 1), float(sums[1]) / max(n, 1), int(n)


@torch.inference_mode()
def validate(fabric, model: nn.Module, loader, criterion, binary: bool) -> tuple[float, float]:
    """Mean loss and accuracy over a split (summed across ranks)."""
    model.eval()
    sums = torch.zeros(3, device=fabric.device, dtype=torch.float64)
    # A module Fabric did not set up (the --ema average) gets its precision here, as Fabric's do.
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    for x, y in loader:
        with fabric.autocast():
            logits = model(x.to(dtype) if x.is_floating_point() else x)
        sums[0] += criterion(logits, y).double() * len(y)
        pred = (logits.reshape(-1) > 0).long() if binary else logits.argmax(1)
        sums[1] += (pred == y).sum()
        sums[2] += len(y)
    sums = fabric.all_reduce(sums, reduce_op="sum")
    n = max(float(sums[2]), 1.0)
    return float(sums[0]) / n, float(sums[1]) / n


def _class_weights(cfg: TrainConfig, data: DataBundle) -> torch.Tensor | None:
    if cfg.class_weights == "auto" or cfg.balance == "loss":
        return inverse_frequency_weights(data.class_counts("train"))
    if cfg.class_weights is None:
        return None
    if len(cfg.class_weights) != data.num_classes:
        raise ConfigError(f"class_weights: {len(cfg.class_weights)} weights for {data.num_classes} classes "
                          f"({data.class_names})")
    return torch.tensor(cfg.class_weights, dtype=torch.float32)


def _yaml(cfg: TrainConfig) -> str:
    import yaml

    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=None)


def _print_start(log: TrainLogger, cfg: TrainConfig, data: DataBundle, tm: TrainingModel, run_path: Path,
                 flip_warning: str | None, resumed: bool, start_epoch: int) -> None:
    if not log.enabled:
        return
    counts = {s: data.class_counts(s) for s in ("train", "val", "test") if getattr(data, s) is not None}
    log.print(f"[bold]{'resuming' if resumed else 'training'}[/bold] {cfg.model} on {data.name} "
              f"({data.channels}×{data.input_size[0]}×{data.input_size[1]}, {data.num_classes} classes) → {run_path}")
    p = tm.parameter_counts()
    log.print(f"parameters: {p['total']:,} ({p['trainable']:,} trainable, {p['frozen']:,} frozen)")
    for split, c in counts.items():
        shares = ", ".join(f"{name} {n}" for name, n in zip(data.class_names, c))
        log.print(f"  {split:<5} {sum(c):>7,} images: {shares}", highlight=False)
    if data.skipped:
        log.print(f"[yellow]{len(data.skipped)} unreadable file(s) skipped[/yellow] (see `cnnlab data stats`)")
    if flip_warning:
        log.print(f"[yellow]warning:[/yellow] {flip_warning}")
    if resumed:
        log.print(f"continuing at epoch {start_epoch} of {cfg.epochs}")


def _gather_rank_info(fabric, model: nn.Module, run: RunWriter) -> list[dict[str, Any]]:
    """Per rank: a checksum of the final weights and the files it wrote (for DDP checks)."""
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    wrote = torch.tensor([float(len(run.written))], dtype=torch.float64)
    local = torch.cat([checksum.cpu(), wrote]).to(fabric.device)
    if fabric.world_size == 1:
        gathered = local[None]
    else:
        # c10d's all_gather, not fabric.all_gather: Fabric's goes through the autograd-aware
        # torch.distributed.nn.functional.all_gather, which torch deprecates (one warning per rank).
        parts = [torch.empty_like(local) for _ in range(fabric.world_size)]
        torch.distributed.all_gather(parts, local)
        gathered = torch.stack(parts)
    return [{"rank": i, "weights_checksum": float(g[0]), "files_written": int(g[1])} for i, g in enumerate(gathered.cpu())]
