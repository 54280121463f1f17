"""An exported model with its JSON sidecar: ONNX (run by ONNX Runtime) or TorchScript (run by
torch.jit). It predicts like a run folder (same preprocessing, same class names) without the
model's Python code or checkpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab.data.transforms import Preprocessing
from cnnlab.errors import CheckpointError
from cnnlab.inference import logits_to_proba


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
        return torch.from_numpy(self.session.run(None, {self.input_name: x})[0])


@dataclass
class TorchScriptModel(ExportedModel):
    """A TorchScript module (`torch.jit.load`) plus what it needs to predict."""

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.session(batch.detach().cpu().float())


def read_sidecar(path: Path, kind: str) -> tuple[dict[str, Any], Preprocessing, list[str]]:
    """The `.json` beside an exported model: (all of it, preprocessing, class names)."""
    meta_path = sidecar_path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {kind} file")
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: the sidecar {meta_path.name} with class names and preprocessing is missing "
                              "(expected beside the model, as `cnnlab export` writes it)")
    try:
        meta = json.loads(meta_path.read_text())
        pre = Preprocessing.from_dict(meta["preprocessing"])
        class_names = [str(c) for c in meta["class_names"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{meta_path}: not a cnnlab export sidecar ({type(e).__name__}: {e}); expected JSON "
                              "with class_names and preprocessing") from None
    return meta, pre, class_names


def load_onnx(path: str | Path) -> OnnxModel:
    """Open an exported `.onnx` file and its `.onnx.json` sidecar (written by `cnnlab export`)."""
    import onnxruntime as ort

    path = Path(path)
    meta, pre, class_names = read_sidecar(path, "ONNX")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise CheckpointError(f"{path}: ONNX Runtime cannot load it ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    return OnnxModel(session, class_names, pre, bool(meta.get("binary_output", False)), path, meta)


def load_torchscript(path: str | Path) -> TorchScriptModel:
    """Open an exported `model.torchscript.pt` and its `.json` sidecar (written by `cnnlab export`)."""
    path = Path(path)
    meta, pre, class_names = read_sidecar(path, "TorchScript")
    try:
        module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:  # torch.jit raises RuntimeError and its own types for bad archives
        raise CheckpointError(f"{path}: torch.jit cannot load it as TorchScript ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    return TorchScriptModel(module, class_names, pre, bool(meta.get("binary_output", False)), path, meta)


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
