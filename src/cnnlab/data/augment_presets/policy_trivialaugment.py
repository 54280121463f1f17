"""TrivialAugment (Müller & Hutter, 2021): one random operation at a random strength per image group."""

from cnnlab.data.augment import Augment
from cnnlab.data.augment_presets import preset


@preset("trivialaugment")
def trivialaugment() -> Augment:
    """Random resized crop, flip, then torchvision v2 TrivialAugmentWide (no tuning, strong on photos).

    torchvision's classification reference recipe (`--auto-augment ta_wide`): RandomResizedCrop
    (scale 0.08–1), a horizontal flip, then one of 14 operations at a uniformly random strength.
    Normalisation is left to the data set or the pretrained model.
    """
    return Augment(hflip=0.5, crop_scale=(0.08, 1.0), policy="trivialaugment")
