"""The augmentations of the tutorials cnnlab reproduces."""

import math

from cnnlab.data.augment import Augment
from cnnlab.data.augment_presets import preset


@preset("mnist-tutorial")
def mnist_tutorial() -> Augment:
    """The PyTorch MNIST tutorial: horizontal flip, rotation ±10°, normalised to [-1, 1].

    RandomHorizontalFlip + RandomRotation(10) + Normalize(0.5, 0.5). Its flip mislabels digits
    (a flipped 2 or 7 is no digit; see `warn_if_flip_mislabels`).
    """
    return Augment(hflip=0.5, rotation=10, normalize="half")


@preset("keras-ch5")
def keras_ch5() -> Augment:
    """The Keras book, chapter 5: rotation 40°, shifts, shear and zoom 0.2, flip, fill nearest.

    Small data (dogs vs cats): rotation 40°, shifts 0.2, shear 0.2, zoom 0.2, horizontal flip,
    fill "nearest", and rescale 1/255 (no mean/std). Keras 1 read shear_range=0.2 in radians
    (≈ 11.5°), the effect the book shows; Keras 2 reads degrees, which makes 0.2 a no-op. We keep
    the book's intent.
    """
    return Augment(hflip=0.5, rotation=40, shift=0.2, shear=math.degrees(0.2), zoom=0.2,
                   fill="nearest", normalize="none")


@preset("imagenet")
def imagenet() -> Augment:
    """torchvision's ImageNet recipe: random resized crop, horizontal flip, ImageNet mean/std."""
    return Augment(hflip=0.5, crop_scale=(0.08, 1.0), normalize="imagenet")
