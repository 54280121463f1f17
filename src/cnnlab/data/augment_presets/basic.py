"""The two presets that suit any data set: nothing, and small digit-safe warps."""

from cnnlab.data.augment import Augment
from cnnlab.data.augment_presets import preset


@preset("none")
def none() -> Augment:
    """No augmentation."""
    return Augment()


@preset("light")
def light() -> Augment:
    """Digit-safe: rotation ±10°, shifts 0.1, zoom 0.1, no flips."""
    return Augment(rotation=10, shift=0.1, zoom=0.1)
