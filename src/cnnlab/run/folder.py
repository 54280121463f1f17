"""`Run`: a run folder (or a lone checkpoint, or a model in memory) as one object.

    run = Run.open("runs/exp")          # or "runs/exp/last.pt", a LoadedModel, a pretrained model
    run.model()                          # the LoadedModel of best.pt (else last.pt), loaded once
    run.data_config()                    # the data settings training resolved (data.yaml)
    run.data()                           # those splits, loaded once
    run.metrics(), run.history()         # metrics.json, history.csv
    run.output_path(files.EVALUATION)    # where a verb writes, never through a symlink

Evaluate, predict, export, explain, the report and the web app take a `Run` (or anything
`Run.open` takes) and ask it for the model, the data and the paths; nothing else reads the
files of a run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnlab.data import load_data
from cnnlab.data.bundle import DataBundle
from cnnlab.errors import CheckpointError, DataError
from cnnlab.run import files
from cnnlab.run.checkpoint import LoadedModel, check_output_width, load_model
from cnnlab.run.data_settings import run_data_config
from cnnlab.run.history import read_history, read_json_file
from cnnlab.settings import DataConfig


# `imagenet:efficientnet_lite0` names a pretrained ImageNet model wherever a run folder can go.
PRETRAINED_PREFIX = "imagenet:"


class Run:
    """One trained model and the folder it lives in.

    `folder` is the run folder (for a checkpoint file, the folder holding it); None for a model
    that lives only in memory, which has no files to read and no place to write by default.
    Build one with `Run.open`.
    """

    def __init__(self, folder: Path | None, checkpoint: Path | None = None, loaded: LoadedModel | None = None):
        self.folder = Path(folder) if folder is not None else None
        self.checkpoint_path = Path(checkpoint) if checkpoint is not None else None
        self._loaded = loaded
        self._width_checked = loaded is None  # load_model checks what it loads
        self._data_config: DataConfig | None = None
        self._data: DataBundle | None = None
        self._data_error: DataError | None = None

    # --- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, source: Any) -> Run:
        """A Run from a run folder, a checkpoint file, a `Run` (returned as it is), a `LoadedModel`,
        or anything shaped like one (a model, class names and preprocessing, as
        `cnnlab.models.pretrained.load_pretrained` returns for ImageNet models)."""
        if isinstance(source, Run):
            return source
        if isinstance(source, LoadedModel):
            return cls._in_memory(source)
        if all(hasattr(source, a) for a in ("model", "class_names", "preprocessing")):
            loaded = LoadedModel(source.model.eval(), list(source.class_names), source.preprocessing,
                                 getattr(source, "architecture", {}), {}, Path(f"<{type(source).__name__}>"))
            return cls._in_memory(loaded)
        if not isinstance(source, (str, Path)):
            raise CheckpointError(f"{source!r}: not a run folder, checkpoint file or model "
                                  "(expected runs/NAME, a .pt file or a LoadedModel)")
        if str(source).startswith(PRETRAINED_PREFIX) and not Path(source).exists():
            return cls.pretrained(str(source)[len(PRETRAINED_PREFIX):])
        checkpoint = files.resolve_checkpoint_path(source)
        return cls(checkpoint.parent, checkpoint)

    @classmethod
    def pretrained(cls, name: str) -> Run:
        """`imagenet:NAME`: the 1000-class ImageNet model NAME with its offline weights, used where a
        run folder can be (predict, explain, serve, evaluate with --data); nothing to train first."""
        from cnnlab.models.pretrained import load_pretrained

        if not name.strip():
            raise CheckpointError(f"{PRETRAINED_PREFIX}: name a model, e.g. {PRETRAINED_PREFIX}efficientnet_lite0")
        pretrained = load_pretrained(name.strip())
        loaded = LoadedModel(pretrained.model.eval(), list(pretrained.class_names), pretrained.preprocessing,
                             pretrained.architecture or {}, {}, Path(f"{PRETRAINED_PREFIX}{name.strip()}"))
        run = cls._in_memory(loaded)
        run._name = f"{PRETRAINED_PREFIX}{name.strip()}"
        return run

    @classmethod
    def _in_memory(cls, loaded: LoadedModel) -> Run:
        # A model loaded from a checkpoint keeps its run folder (evaluate writes beside it).
        path = Path(loaded.path) if loaded.path is not None else None
        on_disk = path is not None and path.is_file()
        return cls(path.parent if on_disk else None, path if on_disk else None, loaded)

    @property
    def name(self) -> str:
        """A short name for tables: the run folder's name, or the checkpoint file's."""
        if self.checkpoint_path is None:
            return getattr(self, "_name", "model")
        p = self.checkpoint_path
        return p.parent.name if files.is_run_checkpoint(p) else p.name

    def __repr__(self) -> str:
        return f"Run({str(self.folder) if self.folder is not None else 'in memory'!r})"

    # --- the model and its data -----------------------------------------------------------------

    def model(self) -> LoadedModel:
        """The trained model (eval mode), loaded on first use and kept."""
        if self._loaded is None:
            self._loaded = load_model(self.checkpoint_path)
        if not self._width_checked:  # a hand-made LoadedModel: its class names must fit its outputs
            check_output_width(self._loaded)
            self._width_checked = True
        return self._loaded

    def data_config(self) -> DataConfig:
        """The data settings the run trained on, as training resolved them (data.yaml); from
        config.yaml or the checkpoint's config for runs without data.yaml."""
        if self._data_config is None:
            where = str(self.checkpoint_path or (self._loaded.path if self._loaded is not None else "model"))
            self._data_config = run_data_config(self.file(files.DATA_SETTINGS), self.file(files.CONFIG),
                                                lambda: self.model().checkpoint, where)
        return self._data_config

    def data(self, **overrides: Any) -> DataBundle:
        """The run's own splits (loaded once and kept), or with `overrides` (DataConfig fields such
        as limit, classes or data_root) loaded afresh. A `DataError` (the data is on another
        machine) is kept too, so a second caller learns it without trying again."""
        if overrides:
            return load_data(self.data_config(), **overrides)
        if self._data_error is not None:
            raise self._data_error
        if self._data is None:
            try:
                self._data = load_data(self.data_config())
            except DataError as e:
                self._data_error = e
                raise
        return self._data

    # --- files ----------------------------------------------------------------------------------

    def file(self, name: str) -> Path | None:
        """The path of one of the run's files (e.g. `files.CONFIG`), None for a model in memory."""
        return self.folder / name if self.folder is not None else None

    def metrics(self) -> dict[str, Any]:
        """metrics.json of training ({} when absent)."""
        path = self.file(files.METRICS)
        return read_json_file(path) if path is not None and path.exists() else {}

    def history(self) -> list[dict[str, Any]]:
        """history.csv as one dict per epoch ([] when absent)."""
        path = self.file(files.HISTORY)
        return read_history(path) if path is not None and path.exists() else []

    def config_text(self) -> str:
        """config.yaml as written ("" when absent)."""
        path = self.file(files.CONFIG)
        return path.read_text() if path is not None and path.is_file() else ""

    def curves_png(self) -> bytes | None:
        """curves.png as written by training (None when absent)."""
        path = self.file(files.CURVES)
        return path.read_bytes() if path is not None and path.is_file() else None

    def output_path(self, name: str) -> Path:
        """Where a verb writes its output `name` (evaluation/, export/, explain/, report.html) in
        this run folder; refused when it would pass through a symbolic link or leave the folder."""
        if self.folder is None:
            raise CheckpointError(f"{name}: the model has no run folder to write into; pass out=PATH")
        return files.output_path(self.folder, name)

    @property
    def evaluation_dir(self) -> Path:
        return self.output_path(files.EVALUATION)

    @property
    def export_dir(self) -> Path:
        return self.output_path(files.EXPORT)

    @property
    def explain_dir(self) -> Path:
        return self.output_path(files.EXPLAIN)

    @property
    def report_path(self) -> Path:
        return self.output_path(files.REPORT)


def as_run(source: Any) -> Run:
    """`Run.open(source)`: a run folder, checkpoint file, Run, LoadedModel or pretrained model."""
    return Run.open(source)
