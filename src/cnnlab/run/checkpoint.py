"""Checkpoints: everything needed to resume a run, or to predict without its config.

A checkpoint is a plain dict of tensors and plain values saved with `torch.save` and loaded with
`torch.load(weights_only=True)`, so a file carrying a malicious pickle is refused instead of
running code. Writes are atomic (temporary file + rename): a crash during a save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.atomic import atomic_write
from cnnlab.data.transforms import Preprocessing
from cnnlab.errors import CheckpointError, CnnlabError, ModelError
from cnnlab.run.files import SCRIPTED, resolve_checkpoint_path

FORMAT = "cnnlab-checkpoint"
VERSION = 1


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Save a checkpoint dict atomically (the previous file survives any failure)."""
    state = {"format": FORMAT, "version": VERSION, **state}

    def write(f):
        torch.save(state, f)

    return atomic_write(path, write)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely; a run folder means its best.pt (else last.pt).

    Refuses files that are not cnnlab checkpoints or that hold arbitrary pickled objects.
    """
    path = resolve_checkpoint_path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused to load: the file holds pickled objects other than tensors and "
                              f"plain values, which could run code ({str(e).splitlines()[0]}). "
                              "Only load checkpoints you trust, and only cnnlab's own format.") from None
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a cnnlab checkpoint (no 'format: {FORMAT}' entry); "
                              "to start from plain weights use --weights")
    return state


def rng_state() -> dict[str, Any]:
    """Torch's CPU (and CUDA) random state, as tensors."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint, with what it needs to predict."""

    model: nn.Module
    class_names: list[str]
    preprocessing: Preprocessing
    architecture: dict[str, Any]
    checkpoint: dict[str, Any]
    path: Path
    # Set when the model is the run's TorchScript copy because its code could not be imported:
    # why, naming the module. Predict, evaluate and export work; explain and training need the code.
    needs_code: str | None = None

    @property
    def binary_output(self) -> bool:
        return bool(getattr(self.model, "binary_output", False))


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model of a run folder or checkpoint file and load its weights (eval mode), on
    the device `map_location` names."""
    from cnnlab.models.registry import build_from_architecture

    ckpt = load_checkpoint(path, map_location)
    where = resolve_checkpoint_path(path)
    for key in ("model", "architecture", "class_names", "preprocessing"):
        if key not in ckpt:
            raise CheckpointError(f"{where}: checkpoint lacks {key!r}; it cannot predict on its own")
    needs_code = None
    try:
        model = build_from_architecture(ckpt["architecture"])
        try:
            model.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise CheckpointError(f"{where}: weights do not match the architecture "
                                  f"{ckpt['architecture'].get('name')!r} ({str(e).splitlines()[0]})") from None
    except (ModelError, CheckpointError) as e:
        model = code_free_copy(where, ckpt["architecture"], e, map_location)
        needs_code = str(e)
    # load_state_dict copies into the freshly built (CPU) parameters, so move the model itself
    model.to(map_location).eval()
    loaded = LoadedModel(model, list(ckpt["class_names"]), Preprocessing.from_dict(ckpt["preprocessing"]),
                         ckpt["architecture"], ckpt, where, needs_code)
    check_output_width(loaded)
    return loaded


def code_free_copy(where: Path, architecture: Any, error: CnnlabError, map_location) -> nn.Module:
    """The run's TorchScript copy of your own model, when its import path cannot rebuild it here;
    else `error` again (naming the module to install)."""
    from cnnlab.models.user_code import is_import_path

    name = architecture.get("name") if isinstance(architecture, dict) else None
    scripted = where.parent / SCRIPTED
    if not (isinstance(name, str) and is_import_path(name)):
        raise error
    if not scripted.is_file() or scripted.is_symlink():
        raise type(error)(f"{error} (and the run folder has no {SCRIPTED} to predict without the code)") from None
    import warnings

    try:  # the run's own file, written by fit: TorchScript runs no Python of its own
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch 2.14: TorchScript is deprecated, still loads
            return torch.jit.load(str(scripted), map_location=map_location)
    except (RuntimeError, ValueError) as e:
        raise CheckpointError(f"{scripted}: not a readable TorchScript file ({str(e).splitlines()[0]}); "
                              f"and {error}") from None


def check_output_width(loaded: LoadedModel) -> None:
    """Refuse a model whose outputs do not match its class names (one logit for a binary head).

    Registry models carry no `num_classes` attribute to compare, so one forward pass of a blank
    image at the input size measures the real width.
    """
    pre = loaded.preprocessing
    expected = 1 if loaded.binary_output else len(loaded.class_names)
    device = next(loaded.model.parameters()).device
    with torch.no_grad():
        out = loaded.model.eval()(torch.zeros(1, pre.channels, *pre.input_size, device=device))
    width = out.reshape(1, -1).shape[1]
    if width != expected:
        raise CheckpointError(f"{loaded.path}: the model has {width} outputs but {len(loaded.class_names)} class "
                              f"names {list(loaded.class_names)[:12]}; the class names do not belong to these "
                              "weights (was the checkpoint edited, or trained on other classes?)")


def state_dict_bytes(state: dict[str, Any]) -> bytes:
    """A checkpoint dict serialised in memory (for tests and size reports)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()
