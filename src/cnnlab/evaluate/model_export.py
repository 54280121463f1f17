"""`export`: a trained model as ONNX or TorchScript, plus a JSON sidecar of class names and
preprocessing, verified against the PyTorch model before anything is written.

    runs/exp/export/model.onnx          the graph, with a dynamic batch dimension
    runs/exp/export/model.onnx.json     class names, preprocessing, parity check

The check runs the exported model (ONNX Runtime, or the reloaded TorchScript module) and the
PyTorch model on real images of the run's data at two batch sizes (1 and 8, which proves the
batch dimension is dynamic) and requires max |difference| of the logits ≤ `tolerance`.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab.atomic import atomic_write_bytes, atomic_write_text
from cnnlab.errors import CnnlabError, ConfigError, DataError
from cnnlab.evaluate.onnx_model import sidecar_path
from cnnlab.evaluate.sources import ModelSource
from cnnlab.inference import prepare_batch
from cnnlab.run import files
from cnnlab.run.checkpoint import LoadedModel
from cnnlab.run.folder import Run

FORMATS = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
CHECK_BATCH_SIZES = (1, 8)
DEFAULT_OPSET = 17


class ExportError(CnnlabError):
    """The exported model does not reproduce the PyTorch model."""


@dataclass
class ExportResult:
    """Where the export went and how closely it matches the PyTorch model."""

    path: Path
    sidecar: Path
    format: str
    max_abs_diff: float
    batch_sizes: list[int] = field(default_factory=lambda: list(CHECK_BATCH_SIZES))
    inputs: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sidecar": str(self.sidecar), "format": self.format,
                "max_abs_diff": self.max_abs_diff, "batch_sizes": self.batch_sizes, "inputs": self.inputs}


def export(source: ModelSource, format: str = "onnx", out: str | Path | None = None, *,
           tolerance: float = 1e-4, opset: int = DEFAULT_OPSET) -> ExportResult:
    """Export a run folder, checkpoint or LoadedModel to ONNX or TorchScript and check parity.

    out: the model file, or a folder for model.onnx / model.torchscript.pt (default
    runs/NAME/export/). Raises `ExportError` (writing nothing) when the exported model differs
    from the PyTorch model by more than `tolerance` on real inputs.
    """
    if format not in FORMATS:
        raise ConfigError(f"format: {format!r} (expected one of {', '.join(FORMATS)})")
    run = Run.open(source)
    loaded = run.model()
    path = _output_path(run, format, out)
    model = loaded.model.eval().cpu()
    inputs, described = check_inputs(run, max(CHECK_BATCH_SIZES))
    example = inputs[:2]  # traced at batch 2: a batch of 1 could be specialised into the graph

    if format == "onnx":
        data, run_exported = _export_onnx(model, example, opset)
    else:
        data, run_exported = _export_torchscript(model, example)

    diff = 0.0
    with torch.inference_mode():
        for n in CHECK_BATCH_SIZES:
            x = inputs[:n]
            diff = max(diff, float(np.abs(model(x).numpy() - run_exported(x)).max()))
    if not diff <= tolerance:  # also catches NaN
        raise ExportError(f"{path}: the {format} export differs from the PyTorch model by {diff:.3g} "
                          f"(max abs, tolerance {tolerance:g}) on {described}; nothing was written")

    atomic_write_bytes(path, data)
    meta = sidecar(loaded, format, path, {"max_abs_diff": diff, "tolerance": tolerance,
                                          "batch_sizes": list(CHECK_BATCH_SIZES), "inputs": described},
                   opset if format == "onnx" else None)
    meta_path = atomic_write_text(sidecar_path(path), json.dumps(meta, indent=2) + "\n")
    return ExportResult(path, meta_path, format, diff, list(CHECK_BATCH_SIZES), described)


def check_inputs(run: Run, n: int) -> tuple[torch.Tensor, str]:
    """n prepared images from the run's test (else validation) split; random normal inputs
    only when the run's data is not on this machine."""
    loaded = run.model()
    try:
        bundle = run.data()
        split_name = "test" if bundle.test is not None else "val"
        split = bundle.split(split_name)
        idx = torch.arange(min(n, len(split)))
        images = list(split.uint8_images(idx, bundle.preprocessing))
        images = (images * n)[:n]  # a split smaller than n is repeated
        return prepare_batch(loaded, images), f"{n} {split_name} images of {bundle.name}"
    except DataError:
        pre = loaded.preprocessing
        g = torch.Generator().manual_seed(0)
        return (torch.randn(n, pre.channels, *pre.input_size, generator=g),
                f"{n} random inputs (the run's data is not here)")


def sidecar(loaded: LoadedModel, format: str, path: Path, parity: dict[str, Any], opset: int | None) -> dict[str, Any]:
    """What a user of the exported file needs besides the graph."""
    from cnnlab import __version__

    pre = loaded.preprocessing
    return {"format": "cnnlab-export", "model_format": format, "model_file": path.name,
            "class_names": list(loaded.class_names), "preprocessing": pre.to_dict(),
            "binary_output": loaded.binary_output,
            "input": {"name": "input", "shape": ["batch", pre.channels, *pre.input_size], "dtype": "float32",
                      "note": "resize to input_size, scale to [0, 1], subtract mean, divide by std"},
            "output": {"name": "logits", "note": "sigmoid of one logit" if loaded.binary_output else "softmax"},
            "architecture": loaded.architecture, "source": str(loaded.path), "opset": opset,
            "parity": parity, "cnnlab_version": __version__}


def _output_path(run: Run, format: str, out: str | Path | None) -> Path:
    if out is None:
        if run.folder is None:
            raise ConfigError("export: the model has no run folder; pass out=PATH")
        return run.output_path(files.EXPORT) / FORMATS[format]
    out = Path(out)
    return out / FORMATS[format] if out.is_dir() or not out.suffix else out


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, opset: int):
    import onnx
    import onnxruntime as ort

    buf = io.BytesIO()
    # dynamo=False: the TorchScript-based exporter, which handles every model of the registry here
    # and needs no onnxscript graph rewriting; its "legacy exporter" DeprecationWarning is expected.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx.*|cnnlab.*")
        torch.onnx.export(model, (example,), buf, dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset)
    data = buf.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return data, lambda x: session.run(None, {"input": x.numpy()})[0]


def _export_torchscript(model: torch.nn.Module, example: torch.Tensor):
    # torch.jit is deprecated in favour of torch.export but is still what TorchScript users
    # (C++ libtorch, older serving stacks) load; its FutureWarnings would only add noise here.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        traced = torch.jit.trace(model, example)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
        data = buf.getvalue()
        reloaded = torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    return data, lambda x: reloaded(x).numpy()
