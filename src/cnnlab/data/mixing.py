"""MixUp and CutMix on whole batches: torchvision.transforms.v2's `MixUp` / `CutMix`.

MixUp (Zhang et al., 2018) blends each image with another of the batch, CutMix (Yun et al.,
2019) pastes a box of another; both mix the labels in the same proportion, so the targets
become soft: N×C class probabilities that sum to 1. The loss takes them as they are
(`CrossEntropyLoss` accepts probabilities); accuracy and every evaluation keep hard labels.
With both on, each batch gets one of the two at random, as torchvision's reference recipe does.

torchvision draws from torch's global generator, which the training loop seeds per epoch, so a
run (and a resumed run) mixes the same way.
"""

from __future__ import annotations

import torch

from cnnlab.errors import ConfigError


class BatchMixer:
    """Mixes a batch (N×C×H×W images, N integer labels) into images and soft N×K targets.

    mixup, cutmix: the alpha of each (the Beta(α, α) distribution of the mixing weight); 0 is off.
    """

    def __init__(self, num_classes: int, mixup: float = 0.0, cutmix: float = 0.0) -> None:
        from torchvision.transforms import v2

        for name, alpha in (("mixup", mixup), ("cutmix", cutmix)):
            if not alpha >= 0:
                raise ConfigError(f"{name}: {alpha} (expected an alpha ≥ 0; 0 is off, 0.2–1.0 is usual)")
        if num_classes < 2:
            raise ConfigError(f"mixup/cutmix: {num_classes} class(es) (expected at least 2 to mix)")
        self.num_classes, self.mixup, self.cutmix = num_classes, float(mixup), float(cutmix)
        chosen = ([v2.MixUp(alpha=self.mixup, num_classes=num_classes)] if self.mixup > 0 else []) + \
                 ([v2.CutMix(alpha=self.cutmix, num_classes=num_classes)] if self.cutmix > 0 else [])
        if not chosen:
            raise ConfigError("mixup/cutmix: both are 0 (nothing to mix); give --mixup or --cutmix an alpha > 0")
        self.transform = chosen[0] if len(chosen) == 1 else v2.RandomChoice(chosen)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed images (same shape) and soft float targets N×K (each row sums to 1)."""
        return self.transform(images, labels.long())

    def describe(self) -> str:
        parts = [f"MixUp α={self.mixup:g}"] * (self.mixup > 0) + [f"CutMix α={self.cutmix:g}"] * (self.cutmix > 0)
        return " or ".join(parts) + " per batch (torchvision v2; soft targets in the loss, hard labels in metrics)"


def batch_mixer(num_classes: int, mixup: float, cutmix: float) -> BatchMixer | None:
    """The mixer of the `mixup` and `cutmix` settings, or None when both are 0."""
    return BatchMixer(num_classes, mixup, cutmix) if mixup > 0 or cutmix > 0 else None
