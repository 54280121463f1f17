"""AutoAugment (Cubuk et al., 2019): the policy searched on ImageNet."""

from cnnlab.data.augment import Augment
from cnnlab.data.augment_presets import preset


@preset("autoaugment")
def autoaugment() -> Augment:
    """Random resized crop, flip, then torchvision v2 AutoAugment (the ImageNet policy).

    torchvision's classification reference recipe (`--auto-augment imagenet`): one of 25
    searched sub-policies of two operations each. Normalisation is left to the data set or the
    pretrained model.
    """
    return Augment(hflip=0.5, crop_scale=(0.08, 1.0), policy="autoaugment")
