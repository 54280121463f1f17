"""Class probabilities from a trained model: the one path that `predict`, evaluation, the web app
and the report share, so an image is prepared exactly as in training everywhere.

    from cnnlab.run import load_model
    from cnnlab.inference import predict_proba, top_k

    loaded = load_model("runs/exp")
    probs = predict_proba(loaded, ["cat.jpg", "dog.png"])      # N × classes, rows sum to 1
    top_k(probs, loaded.class_names, k=3)                       # [[("cat", 0.91), ...], ...]
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image

from cnnlab.data.images import decode_image, pil_to_tensor

ImageLike = Union[str, Path, bytes, np.ndarray, Image.Image, torch.Tensor]


def as_uint8_tensor(image: ImageLike, channels: int) -> torch.Tensor | str | Path | Image.Image:
    """Normalise the accepted image forms to what `Preprocessing.prepare_uint8` takes.

    bytes are decoded (with the same checks as training data); a NumPy array is H×W or H×W×C
    uint8, as PIL and OpenCV users hold images; a tensor is uint8 C×H×W.
    """
    if isinstance(image, (bytes, bytearray)):
        return pil_to_tensor(decode_image(bytes(image), "<upload>", channels))
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"image array: dtype {image.dtype} (expected uint8 H×W or H×W×C)")
        arr = image[:, :, None] if image.ndim == 2 else image
        if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
            raise TypeError(f"image array: shape {image.shape} (expected H×W or H×W×C with C in 1, 3, 4)")
        # a copy: arrays from some libraries are read-only, which torch.from_numpy warns about
        return torch.from_numpy(np.array(arr[:, :, :3], copy=True)).permute(2, 0, 1).contiguous()
    return image


def prepare_batch(loaded, images: Sequence[ImageLike]) -> torch.Tensor:
    """Images of any accepted form → one normalised float batch N×C×H×W at the model's input size."""
    pre = loaded.preprocessing
    return pre.normalize(torch.stack([pre.prepare_uint8(as_uint8_tensor(im, pre.channels)) for im in images]))


def logits_to_proba(logits: torch.Tensor, binary_output: bool) -> torch.Tensor:
    """Softmax over classes; a one-logit binary model gives [P(class 0), P(class 1)]."""
    if binary_output:
        p1 = torch.sigmoid(logits.reshape(-1).float())
        return torch.stack([1 - p1, p1], dim=1)
    return torch.softmax(logits.float(), dim=1)


@torch.inference_mode()
def predict_batch(loaded, batch: torch.Tensor, tta: bool = False) -> torch.Tensor:
    """Probabilities for a prepared batch; `tta` averages with the horizontally flipped batch."""
    model = loaded.model.eval()
    device = next(model.parameters()).device
    batch = batch.to(device)
    probs = logits_to_proba(model(batch), loaded.binary_output)
    if tta:
        probs = (probs + logits_to_proba(model(torch.flip(batch, dims=[3])), loaded.binary_output)) / 2
    return probs.cpu()


def predict_proba(loaded, images: Sequence[ImageLike], batch_size: int = 64, tta: bool = False) -> np.ndarray:
    """Class probabilities (N × classes) for files, bytes, arrays, PIL images or uint8 tensors.

    Unreadable files raise `ImageLoadError` naming the file; `cnnlab predict` catches it per file.
    """
    out = [predict_batch(loaded, prepare_batch(loaded, images[i:i + batch_size]), tta)
           for i in range(0, len(images), batch_size)]
    if not out:
        return np.zeros((0, len(loaded.class_names)), dtype=np.float32)
    return torch.cat(out).numpy()


def top_k(probs: np.ndarray, class_names: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
    """The k most likely classes of each row, as (name, probability), most likely first."""
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(class_names[j], float(row[j])) for j in idx] for row, idx in zip(probs, order)]
