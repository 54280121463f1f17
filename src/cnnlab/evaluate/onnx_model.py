"""An exported ONNX model with its JSON sidecar, run by ONNX Runtime: it predicts like a run
folder (same preprocessing, same class names) without PyTorch models or checkpoints."""

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
class OnnxModel:
    """An ONNX Runtime session plus what it needs to predict (read from the sidecar)."""

    session: Any
    class_names: list[str]
    preprocessing: Preprocessing
    binary_output: bool
    path: Path
    sidecar: dict[str, Any]

    @property
    def input_name(self) -> str:
        return self.session.get_inputs()[0].name

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw model outputs for a prepared float batch N×C×H×W."""
        x = np.ascontiguousarray(batch.detach().cpu().numpy().astype(np.float32))
        return torch.from_numpy(self.session.run(None, {self.input_name: x})[0])

    def predict_batch(self, batch: torch.Tensor, tta: bool = False) -> torch.Tensor:
        """Probabilities for a prepared batch; `tta` averages with the horizontally flipped batch
        (as `cnnlab.inference.predict_batch`)."""
        probs = logits_to_proba(self.logits(batch), self.binary_output)
        if tta:
            probs = (probs + logits_to_proba(self.logits(torch.flip(batch, dims=[3])), self.binary_output)) / 2
        return probs


def load_onnx(path: str | Path) -> OnnxModel:
    """Open an exported `.onnx` file and its `.onnx.json` sidecar (written by `cnnlab export`)."""
    import onnxruntime as ort

    path = Path(path)
    meta_path = sidecar_path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such ONNX file")
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
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise CheckpointError(f"{path}: ONNX Runtime cannot load it ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    return OnnxModel(session, class_names, pre, bool(meta.get("binary_output", False)), path, meta)
