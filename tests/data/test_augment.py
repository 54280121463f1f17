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


def bar_axis(img: torch.Tensor) -> tuple[float, float]:
    """(angle of the bright bar's long axis in degrees in (-90, 90], its length in pixels), from the
    second moments of the pixel mass: measured on the image, independent of any matrix."""
    h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    m = img.double().clamp(min=0)
    total = m.sum()
    cx, cy = (m * xs).sum() / total, (m * ys).sum() / total
    cxx = (m * (xs - cx) ** 2).sum() / total
    cyy = (m * (ys - cy) ** 2).sum() / total
    cxy = (m * (xs - cx) * (ys - cy)).sum() / total
    angle = 0.5 * math.degrees(math.atan2(2 * cxy, cxx - cyy))
    major = 0.5 * (cxx + cyy) + math.sqrt((0.5 * (cxx - cyy)) ** 2 + cxy ** 2)
    return angle, math.sqrt(12 * major)  # a uniform bar of length L has variance L²/12 along it


def test_rotation_by_90_degrees_turns_a_bar_on_a_non_square_image():
    # A horizontal bar through the centre of a 21×41 image, rotated by cnnlab's augmentation
    # (uniform in ±90°): some copies come out (nearly) vertical, and every copy keeps the bar's
    # length, because the warp works in pixel units; a warp in [-1, 1] units would squash a
    # vertical bar to 21/41 of its length.
    x = torch.zeros(200, 1, 21, 41)
    x[:, 0, 10, 15:26] = 1.0
    _, length0 = bar_axis(x[0, 0])
    y = augment_batch(x, Augment(rotation=90), torch.Generator().manual_seed(0))
    axes = [bar_axis(img[0]) for img in y]
    angles = torch.tensor([a for a, _ in axes])
    lengths = torch.tensor([n for _, n in axes])
    assert angles.abs().max() > 80  # turned (nearly) vertical
    assert (angles.abs() > 45).float().mean() > 0.3 and (angles.abs() < 45).float().mean() > 0.3
    assert ((lengths - length0).abs() < 1.5).all(), (lengths.min(), lengths.max(), length0)


def test_random_rotation_stays_within_its_range():
    theta = random_affine_matrices(500, 28, 28, Augment(rotation=10), torch.Generator().manual_seed(0))
    angles = torch.rad2deg(torch.atan2(theta[:, 1, 0], theta[:, 0, 0]))
    assert angles.abs().max() <= 10.0 + 1e-4
    assert angles.abs().max() > 9.0  # and it uses the range


def test_shift_moves_content_by_at_most_the_fraction():
    theta = random_affine_matrices(500, 28, 28, Augment(shift=0.2), torch.Generator().manual_seed(0))
    assert theta[:, :, 2].abs().max() <= 0.4 + 1e-6  # 0.2 of the width is 0.4 in [-1, 1] units
    assert torch.allclose(theta[:, :, :2], torch.eye(2).expand(500, 2, 2))
    # The images themselves: a dot in the middle of a 40×60 image moves by up to 0.2 of the
    # width and height, no further, and shifts use (almost) that whole range in both directions.
    x = torch.zeros(500, 1, 40, 60)
    x[:, 0, 19:21, 29:31] = 1.0
    y = augment_batch(x, Augment(shift=0.2), torch.Generator().manual_seed(0))
    ys, xs = torch.meshgrid(torch.arange(40.0), torch.arange(60.0), indexing="ij")
    mass = y[:, 0].sum(dim=(1, 2))
    assert (mass > 3.5).all()  # the dot stays in the image
    dx = (y[:, 0] * xs).sum(dim=(1, 2)) / mass - 29.5
    dy = (y[:, 0] * ys).sum(dim=(1, 2)) / mass - 19.5
    assert dx.abs().max() <= 0.2 * 60 + 0.5 and dy.abs().max() <= 0.2 * 40 + 0.5
    assert dx.max() > 0.15 * 60 and dx.min() < -0.15 * 60
    assert dy.max() > 0.15 * 40 and dy.min() < -0.15 * 40
    assert (dx.abs() > 1).float().mean() > 0.8  # nearly every image moved


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
