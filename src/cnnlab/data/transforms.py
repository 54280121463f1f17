"""Preprocessing: resize, channel conversion and normalisation, stored with every checkpoint so
that a checkpoint alone can prepare an image for prediction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from cnnlab.data.images import MAX_IMAGE_PIXELS, decode_image, pil_to_tensor, read_image
from cnnlab.errors import ConfigError
from cnnlab.shapes import as_hw

# Named normalisations (mean, std per channel in [0, 1] units); "dataset" is computed.
NAMED_NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "half": ((0.5,), (0.5,)),  # maps [0, 1] to [-1, 1], as Normalize(0.5, 0.5)
    "none": ((0.0,), (1.0,)),  # Keras' rescale=1/255
}
RESIZE_MODES = ("stretch", "crop")


def normalization_values(name: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std for a named normalisation, repeated or averaged to `channels` values."""
    if name not in NAMED_NORMALIZATIONS:
        raise ConfigError(f"normalize: unknown name {name!r}; choose one of "
                          f"{sorted(NAMED_NORMALIZATIONS) + ['dataset']} or give mean and std")
    mean, std = NAMED_NORMALIZATIONS[name]
    return match_channels(mean, channels), match_channels(std, channels)


def match_channels(values: Sequence[float], channels: int) -> tuple[float, ...]:
    """Repeat a single value, or average RGB values for one grey channel."""
    values = tuple(float(v) for v in values)
    if len(values) == channels:
        return values
    if len(values) == 1:
        return values * channels
    if channels == 1:
        return (sum(values) / len(values),)
    raise ConfigError(f"normalize: {len(values)} values given for {channels} channels")


def compute_mean_std(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a uint8 batch N×C×H×W, in [0, 1] units (float64 sums)."""
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    count = 0
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
        count += x.numel() // c
    mean = total / max(count, 1)
    std = (total_sq / max(count, 1) - mean * mean).clamp(min=1e-12).sqrt()
    return tuple(round(float(m), 6) for m in mean), tuple(round(max(float(s), 1e-6), 6) for s in std)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 N×C×H×W (or C×H×W) grey ↔ RGB: grey is repeated; RGB becomes ITU-R 601 luma."""
    c = images.shape[-3]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.expand(*images.shape[:-3], 3, *images.shape[-2:]).contiguous()
    if c == 3 and channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        return ((images.to(torch.float32) * w).sum(dim=-3, keepdim=True) + 0.5).clamp(0, 255).to(torch.uint8)
    raise ConfigError(f"channels: cannot convert {c}-channel images to {channels} channels (expected 1 or 3)")


def resize_uint8(images: torch.Tensor, size: tuple[int, int], mode: str = "stretch", chunk: int = 2048) -> torch.Tensor:
    """Resize uint8 images (N×C×H×W or C×H×W) with antialiasing.

    "stretch" resizes to exactly `size` (Keras' target_size); "crop" resizes the shorter side
    and centre-crops (torchvision's Resize + CenterCrop).
    """
    single = images.dim() == 3
    if single:
        images = images[None]
    h, w = images.shape[-2:]
    if (h, w) == tuple(size):
        return images[0] if single else images
    if mode == "crop":
        scale = max(size[0] / h, size[1] / w)
        inner = (max(size[0], round(h * scale)), max(size[1], round(w * scale)))
    elif mode == "stretch":
        inner = tuple(size)
    else:
        raise ConfigError(f"resize: unknown mode {mode!r}; choose one of {RESIZE_MODES}")
    out = []
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].to(torch.float32)
        x = F.interpolate(x, size=inner, mode="bilinear", antialias=True, align_corners=False)
        if mode == "crop":
            top, left = (inner[0] - size[0]) // 2, (inner[1] - size[1]) // 2
            x = x[..., top:top + size[0], left:left + size[1]]
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    result = torch.cat(out)
    return result[0] if single else result


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes a model input: resize to `input_size` (H, W), convert to `channels`,
    scale to [0, 1], then subtract `mean` and divide by `std` per channel."""

    input_size: tuple[int, int]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = "stretch"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise ConfigError(f"channels: {self.channels} (expected 1 or 3)")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ConfigError(f"normalize: mean {self.mean} / std {self.std} do not have {self.channels} values")
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"normalize: std {self.std} must be positive")
        if self.resize not in RESIZE_MODES:
            raise ConfigError(f"resize: unknown mode {self.resize!r}; choose one of {RESIZE_MODES}")
        object.__setattr__(self, "input_size", as_hw(self.input_size, "preprocessing.input_size"))

    def to_dict(self) -> dict[str, Any]:
        return {"input_size": list(self.input_size), "channels": self.channels,
                "mean": list(self.mean), "std": list(self.std), "resize": self.resize}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessing":
        return cls(input_size=tuple(d["input_size"]), channels=int(d["channels"]),
                   mean=tuple(d["mean"]), std=tuple(d["std"]), resize=d.get("resize", "stretch"))

    def prepare_uint8(self, image: torch.Tensor | Image.Image | str | Path,
                      max_pixels: int = MAX_IMAGE_PIXELS) -> torch.Tensor:
        """Any image (file, PIL image or uint8 C×H×W tensor) as uint8 C×H×W at the input size."""
        if isinstance(image, (str, Path)):
            t = read_image(image, self.channels, max_pixels)
        elif isinstance(image, Image.Image):
            t = pil_to_tensor(decode_image(_pil_bytes(image), "<image>", self.channels, max_pixels))
        else:
            t = image
            if t.dtype != torch.uint8:
                raise ConfigError(f"image tensor: dtype {t.dtype} (expected uint8 C×H×W)")
        return resize_uint8(convert_channels(t, self.channels), self.input_size, self.resize)

    def normalize(self, batch: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        """uint8 (0–255) or float (0–1) N×C×H×W → normalised float32.

        `inplace=True` overwrites a float batch the caller owns (a loader's per-batch copy): the
        same arithmetic without two new tensors per batch."""
        x = batch.to(torch.float32) / 255.0 if batch.dtype == torch.uint8 else batch
        mean, std = _channel_stats(tuple(self.mean), x.dtype, x.device), _channel_stats(tuple(self.std), x.dtype, x.device)
        return x.sub_(mean).div_(std) if inplace else (x - mean) / std

    def denormalize(self, batch: torch.Tensor) -> torch.Tensor:
        """Normalised float N×C×H×W → values in [0, 1] for display."""
        mean = _channel_stats(tuple(self.mean), batch.dtype, batch.device)
        std = _channel_stats(tuple(self.std), batch.dtype, batch.device)
        return (batch * std + mean).clamp(0, 1)


@functools.lru_cache(maxsize=64)
def _channel_stats(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Per-channel mean or std as a 1×C×1×1 tensor, made once per dtype and device (read-only)."""
    return torch.tensor(values, dtype=dtype, device=device).view(1, -1, 1, 1)

    def __call__(self, images: Sequence[torch.Tensor | Image.Image | str | Path]) -> torch.Tensor:
        """Prepare a list of images into one normalised batch ready for the model."""
        return self.normalize(torch.stack([self.prepare_uint8(im) for im in images]))


def _pil_bytes(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG" if img.mode not in ("CMYK",) else "TIFF")
    return buf.getvalue()
