import math

import pytest
import torch

from cnnlab.data.augment import (AUGMENT_PRESETS, Augment, augment_batch, random_affine_matrices,
                                 resolve_augment, warn_if_flip_mislabels)
from cnnlab.errors import ConfigError


def test_hflip_always_is_an_exact_mirror():
    x = torch.rand(5, 3, 7, 9)
    y = augment_batch(x, Augment(hflip=1.0), torch.Generator().manual_seed(0))
    assert torch.equal(y, x.flip(-1))


def test_hflip_half_flips_about_half_of_a_large_batch():
    x = torch.rand(400, 1, 4, 4)
    y = augment_batch(x, Augment(hflip=0.5), torch.Generator().manual_seed(1))
    flipped = (y == x.flip(-1)).flatten(1).all(1) & ~(y == x).flatten(1).all(1)
    assert 150 < int(flipped.sum()) < 250


def test_rotation_by_90_degrees_turns_a_bar_on_a_non_square_image():
    # A horizontal bar through the centre of a 20×40 image becomes a vertical bar: the warp
    # works in pixel units, so non-square images are not squashed.
    x = torch.zeros(1, 1, 21, 41)
    x[0, 0, 10, 15:26] = 1.0
    theta = random_affine_matrices(1, 21, 41, Augment(rotation=90), torch.Generator().manual_seed(0))
    # Force exactly 90°: rebuild with a fixed angle through the same conjugation.
    a = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    d = torch.tensor([41 / 2, 21 / 2], dtype=torch.float64)
    theta = torch.cat([a * d[None, :] / d[:, None], torch.zeros(2, 1, dtype=torch.float64)], 1)[None].float()
    grid = torch.nn.functional.affine_grid(theta, [1, 1, 21, 41], align_corners=False)
    y = torch.nn.functional.grid_sample(x, grid, align_corners=False)
    cols = (y[0, 0] > 0.5).nonzero()[:, 1].unique()
    rows = (y[0, 0] > 0.5).nonzero()[:, 0].unique()
    assert len(cols) <= 2 and len(rows) >= 9  # vertical, as long as the bar was


def test_random_rotation_stays_within_its_range():
    theta = random_affine_matrices(500, 28, 28, Augment(rotation=10), torch.Generator().manual_seed(0))
    angles = torch.rad2deg(torch.atan2(theta[:, 1, 0], theta[:, 0, 0]))
    assert angles.abs().max() <= 10.0 + 1e-4
    assert angles.abs().max() > 9.0  # and it uses the range


def test_shift_moves_content_by_at_most_the_fraction():
    theta = random_affine_matrices(500, 28, 28, Augment(shift=0.2), torch.Generator().manual_seed(0))
    assert theta[:, :, 2].abs().max() <= 0.4 + 1e-6  # 0.2 of the width is 0.4 in [-1, 1] units
    assert torch.allclose(theta[:, :, :2], torch.eye(2).expand(500, 2, 2))


def test_nearest_fill_repeats_edges_and_zeros_fill_is_black():
    x = torch.ones(8, 1, 16, 16)
    g = torch.Generator().manual_seed(0)
    assert augment_batch(x, Augment(shift=0.3, fill="nearest"), g).min() > 0.99
    assert augment_batch(x, Augment(shift=0.3, fill="zeros"), g).min() < 0.01


def test_augmentation_is_reproducible_for_a_seed():
    x = torch.rand(6, 3, 12, 12)
    aug = AUGMENT_PRESETS["keras-ch5"]
    a = augment_batch(x, aug, torch.Generator().manual_seed(3))
    b = augment_batch(x, aug, torch.Generator().manual_seed(3))
    c = augment_batch(x, aug, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_presets_match_the_tutorials():
    assert AUGMENT_PRESETS["mnist-tutorial"] == Augment(hflip=0.5, rotation=10, normalize="half")
    k = AUGMENT_PRESETS["keras-ch5"]
    assert (k.rotation, k.shift, k.zoom, k.hflip, k.fill) == (40, 0.2, 0.2, 0.5, "nearest")
    assert math.isclose(math.radians(k.shear), 0.2)
    assert AUGMENT_PRESETS["imagenet"].crop_scale == (0.08, 1.0)
    assert AUGMENT_PRESETS["none"].is_identity


def test_resolve_augment_sets_items_on_a_preset_and_rejects_unknown_fields():
    aug = resolve_augment({"preset": "mnist-tutorial", "hflip": 0.0})
    assert aug.hflip == 0.0 and aug.rotation == 10
    with pytest.raises(ConfigError, match="unknown field.*'rotate'"):
        resolve_augment("light", rotate=5)
    with pytest.raises(ConfigError, match="unknown preset 'mnist'"):
        resolve_augment("mnist")
    with pytest.raises(ConfigError, match="augment.hflip: 1.5"):
        Augment(hflip=1.5)


def test_flipping_digits_warns():
    with pytest.warns(UserWarning, match="6 into a 9"):
        warn_if_flip_mislabels(AUGMENT_PRESETS["mnist-tutorial"], [str(i) for i in range(10)])
    assert warn_if_flip_mislabels(AUGMENT_PRESETS["light"], [str(i) for i in range(10)]) is None
    assert warn_if_flip_mislabels(AUGMENT_PRESETS["keras-ch5"], ["cat", "dog"]) is None
