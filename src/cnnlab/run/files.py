"""The names of a run folder's files, written down once, and the rules for finding and writing them.

    runs/NAME/config.yaml         the training settings, enough to re-run it (`cnnlab train --config`)
    runs/NAME/data.yaml           the data settings as training resolved them (read by every verb)
    runs/NAME/history.csv         one row per epoch
    runs/NAME/best.pt, last.pt    checkpoints (weights, optimizer, class names, preprocessing, ...)
    runs/NAME/curves.png          loss and accuracy, train vs val
    runs/NAME/metrics.json        final numbers of training
    runs/NAME/transfer.json       transfer learning: weights, blocks, phases, feature cache
    runs/NAME/model.torchscript.pt  your own model's code-free copy (TorchScript): predict and
                                  evaluate work from it when its module cannot be imported
    runs/NAME/tensorboard/        TensorBoard events (--tensorboard)
    runs/NAME/evaluation/         `cnnlab evaluate` (evaluation-tta/ with --tta, beside the plain one)
    runs/ensemble-A+B+C/          `cnnlab evaluate runs/A runs/B runs/C`: an ensemble's own folder
    runs/NAME/export/             `cnnlab export`
    runs/NAME/explain/            `cnnlab explain`
    runs/NAME/report.html         `cnnlab report`
    runs/NAME/.train.lock         held while a trainer writes the folder (removed when it ends)

Nothing outside `cnnlab.run` spells these names; the other stages ask a `Run` for the paths.
"""

from __future__ import annotations

import re
from pathlib import Path

from cnnlab.errors import CheckpointError

CONFIG = "config.yaml"
DATA_SETTINGS = "data.yaml"
HISTORY = "history.csv"
BEST = "best.pt"
LAST = "last.pt"
CURVES = "curves.png"
METRICS = "metrics.json"
TRANSFER = "transfer.json"
SCRIPTED = "model.torchscript.pt"
TENSORBOARD = "tensorboard"
EVALUATION = "evaluation"
EVALUATION_ENSEMBLE = "evaluation-ensemble"  # where ensembles went before their own folder; kept as a writable name
ENSEMBLE_PREFIX = "ensemble-"
EVALUATION_TTA = "evaluation-tta"
TTA_SUFFIX = "-tta"
EXPORT = "export"
EXPLAIN = "explain"
REPORT = "report.html"
LOCK = ".train.lock"

CHECKPOINTS = (BEST, LAST)
# What a verb may write into a run folder, each through `output_path` (never through a symlink).
OUTPUTS = (EVALUATION, EVALUATION_TTA, EVALUATION_ENSEMBLE, EXPORT, EXPLAIN, REPORT)


def new_run_dir(project: str | Path = "runs", name: str | None = None, exist_ok: bool = False) -> Path:
    """A new, empty run folder: `name` (default "exp"), or name2, name3, ... if it is taken.

    Existing runs are never overwritten, unless `exist_ok`: then `name` itself is reused, and the
    files a run writes there are removed first (other files stay; links are removed, never followed).
    """
    project = Path(project)
    base = name or "exp"
    candidate = project / base
    if exist_ok and candidate.is_dir() and not candidate.is_symlink():
        clear_run_files(candidate)
        return candidate
    if candidate.exists() and any(candidate.iterdir()):
        m = re.match(r"^(.*?)(\d+)$", base)
        stem = m.group(1) if m and name is None else base
        k = 2
        while (project / f"{stem}{k}").exists() and any((project / f"{stem}{k}").iterdir()):
            k += 1
        candidate = project / f"{stem}{k}"
    candidate.mkdir(parents=True, exist_ok=True)
    return candidate


RUN_FILES = (CONFIG, DATA_SETTINGS, HISTORY, BEST, LAST, CURVES, METRICS, TRANSFER, SCRIPTED, TENSORBOARD, *OUTPUTS)


def clear_run_files(folder: Path) -> None:
    """Remove what a run wrote into `folder` (for `--exist-ok`); a link is removed, not followed."""
    import shutil

    for name in RUN_FILES:
        path = folder / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)


def resolve_checkpoint_path(path: str | Path, prefer: str = BEST) -> Path:
    """A checkpoint file, or a run folder's `prefer` checkpoint (falling back to the other)."""
    path = Path(path)
    if path.is_dir():
        names = [prefer] + [n for n in CHECKPOINTS if n != prefer]
        for name in names:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: no checkpoint in this folder (expected {' or '.join(names)}); "
                              "is it a cnnlab run folder?")
    if not path.is_file():
        if path.exists():
            raise CheckpointError(f"{path}: not a regular file (a FIFO, device or socket); a checkpoint is a "
                                  ".pt file written by cnnlab")
        raise CheckpointError(f"{path}: no such run folder or checkpoint file")
    return path


def resume_checkpoint(resume: str | Path) -> Path:
    """What `--resume` continues from: a run folder's last.pt, or the checkpoint file named."""
    resume = Path(resume)
    return resume / LAST if resume.is_dir() else resume


def run_folder_of(resume: str | Path) -> Path:
    """The run folder of `--resume` (the folder itself, or the folder of the checkpoint named)."""
    resume = Path(resume)
    return resume if resume.is_dir() else resume.parent


def is_run_checkpoint(path: Path) -> bool:
    """True for runs/NAME/best.pt or last.pt (the run is named after its folder)."""
    return path.name in CHECKPOINTS


def output_path(folder: Path, name: str) -> Path:
    """`folder/name`, refused when it leaves the run folder or is a symbolic link.

    The verbs write their outputs through this, so a link planted in a run folder (say
    `evaluation -> /etc`) never redirects a write outside it. The run folder itself may sit
    anywhere (a linked disk is the user's choice); below it, nothing is followed.
    """
    target = folder / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise CheckpointError(f"{target}: outside the run folder {folder} (expected a name inside it)")
    for part in [target, *list(target.parents)[: len(Path(name).parts) - 1]]:
        if part.is_symlink():
            raise CheckpointError(f"{part}: is a symbolic link; cnnlab writes only inside the run folder "
                                  f"{folder} and never follows links out of it (remove the link)")
    return target


def ensemble_dir(members: list[Path], names: list[str], tta: bool = False) -> Path:
    """An ensemble's own folder beside its first member: runs/ensemble-A+B+C/ (never inside a member,
    whose own evaluation/ it would sit beside; a long list of names is shortened with a hash)."""
    import hashlib

    label = "+".join(names)
    if len(label) > 80:
        digest = hashlib.sha1(label.encode()).hexdigest()[:8]
        label = f"{names[0]}+{len(names) - 1}-more-{digest}"
    return output_path(members[0].parent, ENSEMBLE_PREFIX + label + (TTA_SUFFIX if tta else ""))
