"""An exported model with its JSON sidecar: ONNX (run by ONNX Runtime) or TorchScript (run by
torch.jit). It predicts like a run folder (same preprocessing, same class names) without the
model's Python code or checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab.bounds import load_json_bounded
from cnnlab.data.transforms import Preprocessing
from cnnlab.errors import CheckpointError
from cnnlab.inference import logits_to_proba
from cnnlab.regular_files import FileRefused, read_regular_file
from cnnlab.run.checkpoint import check_class_names, read_preprocessing

MAX_SIDECAR_BYTES = 16 << 20  # 100,000 class names of 100 characters fit in 10 MB


def sidecar_path(model_path: str | Path) -> Path:
    """The JSON beside an exported model: model.onnx → model.onnx.json."""
    p = Path(model_path)
    return p.with_name(p.name + ".json")


@dataclass
class ExportedModel:
    """An exported model (`session`: what runs it) plus what it needs to predict (from the sidecar)."""

    session: Any
    class_names: list[str]
    preprocessing: Preprocessing
    binary_output: bool
    path: Path
    sidecar: dict[str, Any]

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw model outputs for a prepared float batch N×C×H×W."""
        raise NotImplementedError

    def predict_batch(self, batch: torch.Tensor, tta: bool = False) -> torch.Tensor:
        """Probabilities for a prepared batch; `tta` averages with the horizontally flipped batch
        (as `cnnlab.inference.predict_batch`)."""
        probs = logits_to_proba(self.logits(batch), self.binary_output)
        if tta:
            probs = (probs + logits_to_proba(self.logits(torch.flip(batch, dims=[3])), self.binary_output)) / 2
        return probs


@dataclass
class OnnxModel(ExportedModel):
    """An ONNX Runtime session plus what it needs to predict."""

    @property
    def input_name(self) -> str:
        return self.session.get_inputs()[0].name

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(batch.detach().cpu().numpy().astype(np.float32))
        try:
            return torch.from_numpy(np.asarray(self.session.run(None, {self.input_name: x})[0]))
        except Exception as e:  # onnxruntime's own types: a graph that fails (or allocates too much) when run
            first = (str(e).splitlines() or [""])[0][:200]
            raise CheckpointError(f"{self.path}: ONNX Runtime could not run the model ({type(e).__name__}: "
                                  f"{first})") from None


@dataclass
class TorchScriptModel(ExportedModel):
    """A TorchScript module (`torch.jit.load`) plus what it needs to predict."""

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.session(batch.detach().cpu().float())


def read_sidecar(path: Path, kind: str) -> tuple[dict[str, Any], Preprocessing, list[str], bool]:
    """The `.json` beside an exported model, read capped and checked: (all of it, preprocessing,
    class names, binary_output)."""
    meta_path = sidecar_path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {kind} file")
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: the sidecar {meta_path.name} with class names and preprocessing is missing "
                              "(expected beside the model, as `cnnlab export` writes it)")
    try:
        meta = load_json_bounded(read_regular_file(meta_path, MAX_SIDECAR_BYTES, "sidecar"), str(meta_path),
                                 CheckpointError)
    except FileRefused as e:
        raise CheckpointError(str(e)) from None
    if not isinstance(meta, dict) or "class_names" not in meta or "preprocessing" not in meta:
        raise CheckpointError(f"{meta_path}: not a cnnlab export sidecar; expected a JSON object with "
                              "class_names and preprocessing")
    class_names = check_class_names(meta["class_names"], meta_path)
    pre = read_preprocessing(meta["preprocessing"], meta_path)
    binary = meta.get("binary_output", False)
    if not isinstance(binary, bool):
        raise CheckpointError(f"{meta_path}: binary_output: {' '.join(str(binary).split())[:40]} (expected true or false)")
    return meta, pre, class_names, binary


def load_onnx(path: str | Path) -> OnnxModel:
    """Open an exported `.onnx` file and its `.onnx.json` sidecar (written by `cnnlab export`), and
    check that the sidecar belongs to the graph."""
    import onnxruntime as ort

    path = Path(path)
    meta, pre, class_names, binary = read_sidecar(path, "ONNX")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise CheckpointError(f"{path}: ONNX Runtime cannot load it ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    model = OnnxModel(session, class_names, pre, binary, path, meta)
    _check_against_sidecar(model, sidecar_path(path))
    return model


def load_torchscript(path: str | Path) -> TorchScriptModel:
    """Open an exported `model.torchscript.pt` and its `.json` sidecar (written by `cnnlab export`)."""
    path = Path(path)
    meta, pre, class_names, binary = read_sidecar(path, "TorchScript")
    try:
        module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:  # torch.jit raises RuntimeError and its own types for bad archives
        raise CheckpointError(f"{path}: torch.jit cannot load it as TorchScript ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    return TorchScriptModel(module, class_names, pre, binary, path, meta)


def is_torchscript_file(path: Path) -> bool:
    """A TorchScript archive (a zip holding code/ beside its data), not a checkpoint; read from the file."""
    import zipfile

    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist()[:200])
    except (OSError, zipfile.BadZipFile):
        return False


def _check_against_sidecar(model: OnnxModel, meta_path: Path) -> None:
    """The graph's input takes the sidecar's channels and size, and its output has one score per
    class name (one logit for a binary head): measured with one blank image."""
    pre = model.preprocessing
    inputs = model.session.get_inputs()
    shape = inputs[0].shape if len(inputs) == 1 else None
    want = [pre.channels, *pre.input_size]
    if shape is None or len(shape) != 4 or any(isinstance(d, int) and d != w for d, w in zip(shape[1:], want)):
        raise CheckpointError(f"{model.path}: the model takes input {shape}, but {meta_path.name} says "
                              f"N×{want[0]}×{want[1]}×{want[2]}; the sidecar does not belong to this model")
    out = model.logits(torch.zeros(1, *want))
    width = out.reshape(1, -1).shape[1]
    expected = 1 if model.binary_output else len(model.class_names)
    if width != expected:
        raise CheckpointError(f"{meta_path}: {len(model.class_names)} class names for a model with {width} "
                              "outputs; the sidecar does not belong to this model")
