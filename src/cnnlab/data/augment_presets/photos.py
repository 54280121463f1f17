"""Augmentation for fine-tuning a pretrained backbone on a folder of real photos."""

from cnnlab.data.augment import Augment
from cnnlab.data.augment_presets import preset


@preset("photo")
def photo() -> Augment:
    """Photos: random resized crop (area 35–100 %) and horizontal flip; the fine-tuning default.

    Measured on cats_and_dogs_small cut to 100 photos per class (issue 18): fine-tuning the top
    five Lite0 blocks with this crop reached 98.9 % test against 98.25–98.45 % for a head on cached
    features; with flips alone, fine-tuning gained nothing over the cached head.
    """
    return Augment(hflip=0.5, crop_scale=(0.35, 1.0))
