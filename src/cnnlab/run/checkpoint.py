"""Checkpoints: everything needed to resume a run, or to predict without its config.

A checkpoint is a plain dict of tensors and plain values saved with `torch.save` and loaded with
`torch.load(weights_only=True)`, so a file carrying a malicious pickle is refused instead of
running code. Writes are atomic (temporary file + rename): a crash during a save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.atomic import atomic_write
from cnnlab.bounds import check_plain
from cnnlab.data.transforms import RESIZE_MODES, Preprocessing
from cnnlab.errors import CheckpointError, CnnlabError, ModelError
from cnnlab.run.files import SCRIPTED, resolve_checkpoint_path

FORMAT = "cnnlab-checkpoint"
VERSION = 1

# What a checkpoint may declare. Beyond these a model is not one cnnlab can build on this kind of
# machine (ImageNet-21k has 21,841 classes; timm's largest inputs are 1,024 wide), and trying
# means an allocator error minutes later instead of a clear refusal now.
MAX_CLASSES = 100_000
MAX_CLASS_NAME = 200
MAX_SIDE = 1024  # the width check runs one image through the model: at 4096² a VGG needs ~8 GB
MAX_CHANNELS = 64
# Keyword options that make a model constructor read a file, or fetch one: a checkpoint must
# not point timm or torchvision at /etc/passwd (weights come from the checkpoint itself).
# (timm's drop_path_rate is a rate, not a path: only names ending in _path/_file/_dir/_url count)
_FILE_OPTION = re.compile(r"(^|_)(path|file|dir|url)$|^(pretrained|pretrained_cfg|pretrained_cfg_overlay|weights|"
                          r"cache_dir)$", re.IGNORECASE)


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
    try:  # O_NONBLOCK: a FIFO opens at once instead of waiting for a writer
        f = open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NONBLOCK))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({e.strerror or e})") from None
    with f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise CheckpointError(f"{path}: not a regular file; a checkpoint is a .pt file written by cnnlab")
        try:
            state = torch.load(f, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:
            raise CheckpointError(f"{path}: refused to load: the file holds pickled objects other than tensors and "
                                  f"plain values, which could run code ({str(e).splitlines()[0]}). "
                                  "Only load checkpoints you trust, and only cnnlab's own format.") from None
        except Exception as e:  # torch raises IndexError, KeyError, ... on truncated or foreign files
            first = (str(e).splitlines() or [""])[0][:160]
            raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a cnnlab checkpoint (no 'format: {FORMAT}' entry); "
                              "to start from plain weights use --weights")
    check_plain(state, str(path), CheckpointError)
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
    ckpt = load_checkpoint(path, map_location)
    where = resolve_checkpoint_path(path)
    for key in ("model", "architecture", "class_names", "preprocessing"):
        if key not in ckpt:
            raise CheckpointError(f"{where}: checkpoint lacks {key!r}; it cannot predict on its own")
    class_names = check_class_names(ckpt["class_names"], where)
    preprocessing = read_preprocessing(ckpt["preprocessing"], where)
    _check_architecture(ckpt["architecture"], where)
    weights = check_weights(ckpt["model"], where)
    needs_code = None
    try:
        model = _build_with_weights(ckpt["architecture"], weights, where)
    except (ModelError, CheckpointError) as e:
        # your own model whose code is not importable here: the run's TorchScript copy serves it
        try:
            model = code_free_copy(where, ckpt["architecture"], e, map_location)
        except ModelError as again:
            raise CheckpointError(f"{where}: {_shown(again, 300)}") from None
        needs_code = str(e)
    # load_state_dict copies into the freshly built (CPU) parameters, so move the model itself
    model.to(map_location).eval()
    loaded = LoadedModel(model, class_names, preprocessing, ckpt["architecture"], ckpt, where, needs_code)
    check_output_width(loaded)
    return loaded


def _shown(value: Any, limit: int) -> str:
    """A value for a one-line message: whitespace (a tensor's newlines) folded, cut to `limit`."""
    return " ".join(str(value).split())[:limit]


def check_class_names(names: Any, where: str | Path) -> list[str]:
    """Class names as a checkpoint or sidecar holds them: 1 to 100,000 printable texts of at most
    200 characters each (they end up in file names, tables and web pages)."""
    if not isinstance(names, (list, tuple)) or not 1 <= len(names) <= MAX_CLASSES:
        raise CheckpointError(f"{where}: class_names: {_shown(names, 80)} (expected a list of 1 to "
                              f"{MAX_CLASSES:,} names)")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CLASS_NAME or not name.isprintable():
            raise CheckpointError(f"{where}: class_names[{i}]: {_shown(name, 80)!r} (expected printable text of "
                                  f"1 to {MAX_CLASS_NAME} characters)")
    return list(names)


def check_weights(weights: Any, where: str | Path) -> dict[str, torch.Tensor]:
    """A state dict of named tensors, every floating-point value finite (NaN or inf weights
    predict NaN for every image, so they are refused here rather than served)."""
    if not isinstance(weights, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in weights.items()):
        raise CheckpointError(f"{where}: model: expected a mapping of parameter names to tensors")
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"{where}: weights {name!r} hold {bad} NaN or infinite value(s); the model "
                                  "diverged or the file is damaged (use an earlier checkpoint, e.g. best.pt)")
    return weights


def read_preprocessing(pre: Any, where: str | Path) -> Preprocessing:
    """Preprocessing as a checkpoint or sidecar stores it, every field checked (sizes capped,
    numbers finite), refused with CheckpointError naming the field."""
    def bad(field: str, expected: str) -> CheckpointError:
        value = pre.get(field) if isinstance(pre, dict) else pre
        return CheckpointError(f"{where}: preprocessing.{field}: {_shown(value, 80)} (expected {expected})")

    if not isinstance(pre, dict):
        raise CheckpointError(f"{where}: preprocessing: {_shown(pre, 80)!r} (expected a mapping with input_size, "
                              "channels, mean, std)")
    size = pre.get("input_size")
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE for v in size)):
        raise bad("input_size", f"[height, width], each 1 to {MAX_SIDE}")
    channels = pre.get("channels")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise bad("channels", "1 or 3")
    for field in ("mean", "std"):
        values = pre.get(field)
        if not (isinstance(values, (list, tuple)) and len(values) == channels
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)):
            raise bad(field, f"{channels} finite number(s)")
    if any(v <= 0 for v in pre["std"]):
        raise bad("std", "positive numbers")
    if pre.get("resize", "stretch") not in RESIZE_MODES:
        raise bad("resize", " or ".join(RESIZE_MODES))
    return Preprocessing.from_dict(pre)


def _check_architecture(arch: Any, where: Path) -> None:
    """Ranges of the architecture record; its keys and types are checked by the registry."""
    if not isinstance(arch, dict):
        return  # read_architecture names what is wrong
    def whole(v: Any, lo: int, hi: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi

    if "num_classes" in arch and not whole(arch["num_classes"], 1, MAX_CLASSES):
        raise CheckpointError(f"{where}: architecture.num_classes: {_shown(arch['num_classes'], 40)} "
                              f"(expected 1 to {MAX_CLASSES:,})")
    if "in_channels" in arch and not whole(arch["in_channels"], 1, MAX_CHANNELS):
        raise CheckpointError(f"{where}: architecture.in_channels: {_shown(arch['in_channels'], 40)} "
                              f"(expected 1 to {MAX_CHANNELS})")
    size = arch.get("input_size")
    sides = size if isinstance(size, (list, tuple)) else [size]
    if size is not None and not all(whole(v, 1, MAX_SIDE) for v in sides):
        raise CheckpointError(f"{where}: architecture.input_size: {_shown(size, 40)} (expected sides of 1 to {MAX_SIDE})")
    kwargs = arch.get("kwargs") or {}
    if isinstance(kwargs, dict):
        for key in kwargs:
            if not isinstance(key, str) or _FILE_OPTION.search(key):
                raise CheckpointError(f"{where}: architecture.kwargs: option {_shown(key, 40)!r} is refused in a "
                                      "checkpoint (it would make the model read or fetch a file; the weights are "
                                      "in the checkpoint)")


def _build_with_weights(architecture: dict, weights: dict[str, torch.Tensor], where: Path) -> nn.Module:
    """The network the record describes, with the checkpoint's weights in it; a record that cannot
    be built, or weights that do not fit it, raise ModelError or CheckpointError naming the file."""
    from cnnlab.models.registry import build_from_architecture

    try:
        model = build_from_architecture(architecture)
    except (ModelError, CheckpointError):
        raise
    except CnnlabError as e:
        raise CheckpointError(f"{where}: {_shown(e, 300)}") from None
    except (RuntimeError, MemoryError, ValueError, TypeError, OverflowError, KeyError) as e:
        first = (str(e).splitlines() or [""])[0][:160]
        raise CheckpointError(f"{where}: the architecture cannot be built ({type(e).__name__}: {first})") from None
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"{where}: weights do not match the architecture {architecture.get('name')!r} "
                              f"({str(e).splitlines()[0]})") from None
    return model


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
