"""Augmentation on whole batches: one random affine warp per image, applied with one
`affine_grid` + `grid_sample` call for the batch instead of image by image through PIL.

Every geometric augmentation the tutorials use (flip, rotation, shift, shear, zoom, random
resized crop) is an affine map of the sampling grid, so they compose into one 2×3 matrix per
image. That is what makes the in-memory pipeline an order of magnitude faster than the
tutorial's DataLoader + PIL transforms (see benchmarks/bench_data.py).

The automatic policies (TrivialAugment, RandAugment, AutoAugment) are torchvision's
`transforms.v2` classes, applied after the warp to groups of images of the batch: each group
draws its own operation and magnitude (see `POLICY_GROUP`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F

from cnnlab.data.augment_presets import PRESETS
from cnnlab.errors import ConfigError

# grid_sample padding modes, by the names Keras and torchvision users know.
FILL_MODES = {"zeros": "zeros", "constant": "zeros", "nearest": "border", "reflect": "reflection"}

# Automatic augmentation policies: torchvision.transforms.v2 class names, by the names papers use.
POLICIES = {"trivialaugment": "TrivialAugmentWide", "randaugment": "RandAugment", "autoaugment": "AutoAugment"}

# A v2 policy call draws one operation for the whole tensor it is given. Called per image, the
# operations are independent but slow; on the whole batch, fast but every image gets the same
# operation. Groups of 8 are the middle: on 64×3×224×224 uint8 (2 shared CPU cores, noisy)
# TrivialAugmentWide took ≈ 2.4 s per image-by-image batch, 0.40 s in groups of 8, 0.20 s whole.
POLICY_GROUP = 8


@dataclass(frozen=True)
class Augment:
    """Random augmentation settings; every field off by default.

    hflip, vflip: probability of a horizontal / vertical flip.
    rotation: maximum angle in degrees (uniform in ±rotation).
    shift: maximum translation as a fraction of width and height (Keras' width/height_shift_range).
    shear: maximum shear angle in degrees.
    zoom: Keras' zoom_range: each axis scaled by a factor uniform in [1 − zoom, 1 + zoom].
    crop_scale: random resized crop (torchvision's RandomResizedCrop): area fraction range;
        `crop_ratio` is its aspect-ratio range.
    fill: what appears outside the image: "zeros", "nearest" (edge pixels, Keras' default) or "reflect".
    policy: an automatic augmentation policy from torchvision v2 applied after the warp:
        "trivialaugment" (TrivialAugmentWide), "randaugment" or "autoaugment" (ImageNet policy).
    normalize: normalisation the preset implies ("half", "imagenet", "none"), or None to leave it
        to the data set (statistics of the training split).
    """

    hflip: float = 0.0
    vflip: float = 0.0
    rotation: float = 0.0
    shift: float = 0.0
    shear: float = 0.0
    zoom: float = 0.0
    crop_scale: tuple[float, float] | None = None
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    fill: str = "zeros"
    policy: str | None = None
    normalize: str | None = None

    def __post_init__(self) -> None:
        for name in ("hflip", "vflip", "rotation", "shift", "shear", "zoom"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"augment.{name}: {getattr(self, name)} (expected a finite number)")
        for name in ("hflip", "vflip"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"augment.{name}: {p} is not a probability (expected 0 ≤ p ≤ 1)")
        for name in ("rotation", "shift", "shear", "zoom"):
            if getattr(self, name) < 0:
                raise ConfigError(f"augment.{name}: {getattr(self, name)} is negative (expected ≥ 0)")
        if self.zoom >= 1:
            raise ConfigError(f"augment.zoom: {self.zoom} would scale by ≤ 0 (expected 0 ≤ zoom < 1)")
        if self.fill not in FILL_MODES:
            raise ConfigError(f"augment.fill: {self.fill!r} is not one of {sorted(FILL_MODES)}")
        if self.policy is not None and self.policy not in POLICIES:
            raise ConfigError(f"augment.policy: {self.policy!r} is not one of {sorted(POLICIES)} (or null for none)")
        if self.crop_scale is not None:
            lo, hi = self.crop_scale
            if not 0 < lo <= hi <= 1:
                raise ConfigError(f"augment.crop_scale: {self.crop_scale} (expected 0 < min ≤ max ≤ 1)")
            object.__setattr__(self, "crop_scale", (float(lo), float(hi)))
        object.__setattr__(self, "crop_ratio", tuple(float(r) for r in self.crop_ratio))

    @property
    def is_identity(self) -> bool:
        """True when this augmentation never changes an image."""
        return (self.hflip == 0 and self.vflip == 0 and self.rotation == 0 and self.shift == 0
                and self.shear == 0 and self.zoom == 0 and self.crop_scale is None and self.policy is None)

    @property
    def needs_warp(self) -> bool:
        """True when some image needs resampling (anything beyond flips)."""
        return (self.rotation > 0 or self.shift > 0 or self.shear > 0 or self.zoom > 0
                or self.crop_scale is not None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["crop_scale"] = list(self.crop_scale) if self.crop_scale else None
        d["crop_ratio"] = list(self.crop_ratio)
        return d


class _PresetAugments(Mapping[str, Augment]):
    """Each registered preset's `Augment` by name: a read-only view of the preset registry."""

    def __getitem__(self, name: str) -> Augment:
        return PRESETS[name].augment

    def __contains__(self, name: object) -> bool:
        return name in PRESETS

    def __iter__(self) -> Iterator[str]:
        return iter(PRESETS)

    def __len__(self) -> int:
        return len(PRESETS)


# The presets are functions in the modules of `cnnlab.data.augment_presets`; add one there.
AUGMENT_PRESETS: Mapping[str, Augment] = _PresetAugments()


def resolve_augment(spec: str | Augment | dict[str, Any] | None, **overrides: Any) -> Augment:
    """An `Augment` from a preset name, a dict of fields (optionally with "preset"), or None.

    `overrides` set single fields on top of the preset, as a config file may do item by item.
    """
    if spec is None:
        aug = Augment()
    elif isinstance(spec, Augment):
        aug = spec
    elif isinstance(spec, str):
        if spec not in PRESETS:
            raise ConfigError(f"augment: unknown preset {spec!r}; choose one of {sorted(PRESETS)}")
        aug = PRESETS[spec].augment
    elif isinstance(spec, dict):
        spec = dict(spec)
        preset = spec.pop("preset", None)
        return resolve_augment(preset, **spec, **overrides)
    else:
        raise ConfigError(f"augment: expected a preset name or a mapping of fields, got {type(spec).__name__}")
    if overrides:
        known = {f.name for f in fields(Augment)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"augment: unknown field(s) {unknown}; expected some of {sorted(known)}")
        for key in ("crop_scale", "crop_ratio"):
            if isinstance(overrides.get(key), list):
                overrides[key] = tuple(overrides[key])
        aug = replace(aug, **overrides)
    return aug


def warn_if_flip_mislabels(aug: Augment, class_names: list[str], emit: bool = True) -> str | None:
    """Warn when flips are applied to digits, whose mirror images are other digits or none.

    The PyTorch MNIST tutorial flips digits horizontally; the tiny-CNN tutorial warns that a
    vertical flip turns a 6 into a 9. Augmentation must be chosen per data set.
    """
    digits = {str(d) for d in range(10)}
    looks_like_digits = len(class_names) >= 2 and set(class_names) <= digits
    if looks_like_digits and (aug.hflip > 0 or aug.vflip > 0):
        msg = ("augmentation flips digit images: a mirrored 2, 3, 4, 7 is no digit, and a vertical "
               "flip turns a 6 into a 9; use augment 'light' (or set hflip/vflip to 0) for digits")
        if emit:
            warnings.warn(msg, UserWarning, stacklevel=2)
        return msg
    return None


def random_affine_matrices(n: int, height: int, width: int, aug: Augment,
                           generator: torch.Generator | None = None) -> torch.Tensor:
    """One random 2×3 `affine_grid` matrix per image (output → input, normalised coordinates).

    The matrices are built in pixel units centred on the image, then conjugated into
    `affine_grid`'s [-1, 1] coordinates, so rotations stay rotations on non-square images.
    """
    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)

    a = torch.zeros(n, 2, 2, dtype=torch.float64)
    a[:, 0, 0] = 1.0
    a[:, 1, 1] = 1.0
    t = torch.zeros(n, 2, dtype=torch.float64)  # translation, in normalised units
    if aug.rotation > 0:
        th = torch.deg2rad(uniform(-aug.rotation, aug.rotation))
        rot = torch.stack([torch.stack([th.cos(), -th.sin()], -1), torch.stack([th.sin(), th.cos()], -1)], -2)
        a = a @ rot
    if aug.shear > 0:
        sh = torch.deg2rad(uniform(-aug.shear, aug.shear))
        shear = torch.zeros(n, 2, 2, dtype=torch.float64)
        shear[:, 0, 0] = 1.0
        shear[:, 0, 1] = -sh.sin()
        shear[:, 1, 1] = sh.cos()
        a = a @ shear
    if aug.zoom > 0:  # Keras: factor < 1 samples a smaller region, i.e. zooms in
        z = torch.zeros(n, 2, 2, dtype=torch.float64)
        z[:, 0, 0] = uniform(1 - aug.zoom, 1 + aug.zoom)
        z[:, 1, 1] = uniform(1 - aug.zoom, 1 + aug.zoom)
        a = a @ z
    if aug.crop_scale is not None:
        area = uniform(*aug.crop_scale)
        log_ratio = uniform(math.log(aug.crop_ratio[0]), math.log(aug.crop_ratio[1]))
        ratio = log_ratio.exp()
        cw = (area * ratio).sqrt().clamp(max=1.0)  # crop width as a fraction of the image width
        ch = (area / ratio).sqrt().clamp(max=1.0)
        crop = torch.zeros(n, 2, 2, dtype=torch.float64)
        crop[:, 0, 0] = cw
        crop[:, 1, 1] = ch
        a = a @ crop
        t[:, 0] += (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * (1 - cw)
        t[:, 1] += (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * (1 - ch)
    if aug.shift > 0:
        t[:, 0] += 2 * uniform(-aug.shift, aug.shift)
        t[:, 1] += 2 * uniform(-aug.shift, aug.shift)
    # Conjugate by the pixel scale D = diag(W/2, H/2): theta = D⁻¹ A D.
    d = torch.tensor([width / 2, height / 2], dtype=torch.float64)
    a = a * d[None, None, :] / d[None, :, None]
    for p, col in ((aug.hflip, 0), (aug.vflip, 1)):
        if p > 0:
            flip = torch.rand(n, generator=generator, dtype=torch.float64) < p
            sign = 1.0 - 2.0 * flip.to(torch.float64)
            a[:, :, col] *= sign[:, None]
    return torch.cat([a, t[:, :, None]], dim=2).to(torch.float32)


def apply_policy(images: torch.Tensor, policy: str, generator: torch.Generator | None = None,
                 group: int = POLICY_GROUP) -> torch.Tensor:
    """Apply torchvision v2's automatic augmentation `policy` to a float batch in [0, 1].

    Each group of `group` images draws its own operation and magnitude. The policies work on
    uint8 images (posterize, solarize and equalize are defined on 8 bits), so the batch goes
    through uint8 and back. torchvision draws from torch's global generator; it is seeded from
    `generator` inside `fork_rng`, so the loader's epoch seed still fixes the augmentation and
    the global random state is left as it was.
    """
    from torchvision.transforms import v2

    transform = getattr(v2, POLICIES[policy])()
    seed = int(torch.randint(2**62, (1,), generator=generator))
    as_uint8 = images.mul(255).round_().clamp_(0, 255).to(torch.uint8)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = torch.cat([transform(chunk) for chunk in as_uint8.split(max(1, group))])
    return out.to(images.dtype).div_(255.0)


def augment_batch(images: torch.Tensor, aug: Augment, generator: torch.Generator | None = None,
                  policy_group: int = POLICY_GROUP) -> torch.Tensor:
    """Augment a float batch N×C×H×W (values in [0, 1]) with one random transform per image.

    Flip-only augmentation is done by indexing (exact, no resampling); anything else goes
    through one bilinear `grid_sample` with the fill mode as padding. A `policy` then runs on
    groups of `policy_group` images (see `apply_policy`).
    """
    if aug.is_identity:
        return images
    n, _, h, w = images.shape
    if not aug.needs_warp:
        out = images
        if aug.hflip > 0:
            mask = torch.rand(n, generator=generator) < aug.hflip
            out = torch.where(mask.to(out.device)[:, None, None, None], out.flip(-1), out)
        if aug.vflip > 0:
            mask = torch.rand(n, generator=generator) < aug.vflip
            out = torch.where(mask.to(out.device)[:, None, None, None], out.flip(-2), out)
    else:
        theta = random_affine_matrices(n, h, w, aug, generator).to(images.device, images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode=FILL_MODES[aug.fill], align_corners=False)
    if aug.policy is not None:
        out = apply_policy(out, aug.policy, generator, policy_group)
    return out
