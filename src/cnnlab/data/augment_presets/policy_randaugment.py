"""RandAugment (Cubuk et al., 2020): two random operations at a fixed magnitude."""

from cnnlab.data.augment import Augment
from cnnlab.data.augment_presets import preset


@preset("randaugment")
def randaugment() -> Augment:
    """Random resized crop, flip, then torchvision v2 RandAugment (2 operations, magnitude 9 of 31).

    torchvision's classification reference recipe (`--auto-augment ra`) with RandAugment's
    defaults. Normalisation is left to the data set or the pretrained model.
    """
    return Augment(hflip=0.5, crop_scale=(0.08, 1.0), policy="randaugment")
