"""TrivialAugment, RandAugment and AutoAugment presets from torchvision v2 (issue 18 item 4)."""

import pytest
import torch

from cnnlab.data import load_data
from cnnlab.data.augment import AUGMENT_PRESETS, Augment, apply_policy, augment_batch, resolve_augment
from cnnlab.errors import ConfigError

POLICY_PRESETS = ("trivialaugment", "randaugment", "autoaugment")


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", limit=64)


@pytest.mark.parametrize("name", POLICY_PRESETS)
def test_each_policy_preset_changes_a_batch_and_keeps_its_shape_and_labels(digits, name):
    aug = resolve_augment(name)
    assert aug.policy == name and not aug.is_identity
    plain = list(digits.loader("train", 16, shuffle=True, seed=5))
    augmented = list(digits.loader("train", 16, shuffle=True, seed=5, augment=aug))
    assert len(plain) == len(augmented)
    for (x0, y0), (x1, y1) in zip(plain, augmented):
        assert x1.shape == x0.shape and x1.dtype == x0.dtype and torch.isfinite(x1).all()
        assert torch.equal(y1, y0)  # the same images in the same order, with their labels
        assert (x1 - x0).abs().amax(dim=(1, 2, 3)).gt(1e-3).float().mean() > 0.5  # most images changed


@pytest.mark.parametrize("name", POLICY_PRESETS)
def test_the_policy_itself_changes_images_reproducibly_and_leaves_the_global_seed(name):
    x = torch.rand(16, 3, 20, 20)
    policy_only = Augment(policy=name)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = augment_batch(x, policy_only, torch.Generator().manual_seed(1))
    assert torch.equal(torch.rand(1), before)  # torchvision's draws did not move the global generator
    b = augment_batch(x, policy_only, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.allclose(a, x, atol=1 / 255)
    assert 0 <= a.min() and a.max() <= 1


def test_groups_draw_their_own_operation_and_grey_images_work():
    x = torch.rand(1, 1, 16, 16).repeat(32, 1, 1, 1)  # 32 copies of one grey image
    per_image = apply_policy(x, "trivialaugment", torch.Generator().manual_seed(0), group=1)
    whole = apply_policy(x, "trivialaugment", torch.Generator().manual_seed(0), group=32)
    distinct = lambda t: len({tuple(im.flatten().tolist()) for im in t})  # noqa: E731
    assert distinct(whole) == 1 and distinct(per_image) > 4


def test_presets_are_torchvisions_reference_recipe_and_bad_policy_is_refused():
    for name in POLICY_PRESETS:
        p = AUGMENT_PRESETS[name]
        assert (p.hflip, p.crop_scale, p.policy, p.normalize) == (0.5, (0.08, 1.0), name, None)
    assert resolve_augment({"preset": "light", "policy": "randaugment"}).rotation == 10
    with pytest.raises(ConfigError, match="augment.policy: 'augmix'"):
        Augment(policy="augmix")
