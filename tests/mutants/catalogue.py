"""The broken versions of cnnlab that the test suite must catch (issue 23), one per behaviour.

Each mutant is a small monkeypatch that breaks one promise the README or a docstring makes, and
names the tests that must fail because of it. `run.py` applies one mutant at a time in a fresh
interpreter (through `activate/sitecustomize.py`, so Python subprocesses the tests start are
broken the same way) and reports killed / survived.

The patches break behaviour through public names or library calls where they can (torch.load,
PIL's exif_transpose, Lightning's clip_gradients, the explain method registry). Where only a
module-level helper carries the behaviour it is named here, once; when a refactor renames it,
`run.py` reports the mutant as "stale" instead of silently passing.
"""

from __future__ import annotations

import functools
import importlib
import sys
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Mutant:
    name: str
    breaks: str                      # the promise this version breaks, in words
    tests: tuple[str, ...]           # pytest node ids that must fail under it
    apply: Callable[[], None] = field(repr=False)


class StaleMutant(RuntimeError):
    """The code the mutant patches is gone (renamed or moved): update the mutant."""


def replace_everywhere(module_name: str, attr: str, make: Callable[[Any], Any]) -> None:
    """Replace `module.attr` by `make(original)`, and every reference to the original that a
    module loaded so far holds (`from module import attr` copies), so the mutant is seen by all."""
    module = importlib.import_module(module_name)
    if not hasattr(module, attr):
        raise StaleMutant(f"{module_name}.{attr} no longer exists")
    original = getattr(module, attr)
    new = make(original)
    for m in list(sys.modules.values()):
        d = getattr(m, "__dict__", None)
        if not d:
            continue
        for k, v in list(d.items()):
            if v is original:
                setattr(m, k, new)


def patch_method(module_name: str, cls: str, attr: str, make: Callable[[Any], Any]) -> None:
    module = importlib.import_module(module_name)
    klass = getattr(module, cls, None)
    if klass is None or not hasattr(klass, attr):
        raise StaleMutant(f"{module_name}.{cls}.{attr} no longer exists")
    setattr(klass, attr, make(getattr(klass, attr)))


# --- the mutants --------------------------------------------------------------------------------

def _resume_from_scratch() -> None:
    # `--resume` ignores last.pt: weights, optimizer, history and epoch all start afresh in the
    # same folder. Deterministic training then ends with the same history and weights.
    patch_method("cnnlab.train.loop", "Training", "resume_from", lambda orig: lambda self, ckpt: None)


def _identity_augmentation() -> None:
    replace_everywhere("cnnlab.data.augment", "augment_batch",
                       lambda orig: lambda images, aug, generator=None: images)


def _constant_gradcam_plus_plus() -> None:
    import torch

    def make(orig):
        @functools.wraps(orig)
        def constant(*args, **kwargs):
            return torch.ones_like(orig(*args, **kwargs))
        return constant
    replace_everywhere("cnnlab.explain.gradcam", "gradcam_plus_plus_maps", make)


def _every_rank_gets_rank_0() -> None:
    def make(orig):
        @functools.wraps(orig)
        def init(self, *args, **kwargs):
            kwargs["rank"] = 0
            orig(self, *args, **kwargs)
        return init
    patch_method("cnnlab.data.loaders", "BatchLoader", "__init__", make)


def _exif_ignored() -> None:
    from PIL import ImageOps

    ImageOps.exif_transpose = lambda image, **kw: image


def _sixteen_bit_clipped() -> None:
    import numpy as np
    from PIL import Image

    def make(orig):
        def clipped(img):
            if img.mode.startswith("I"):
                arr = np.clip(np.asarray(img, dtype=np.float64), 0, 255).astype(np.uint8)
                return Image.fromarray(arr, "L")
            return orig(img)
        return clipped
    replace_everywhere("cnnlab.data.images", "_to_8bit", make)


def _pickle_refusal_removed() -> None:
    import torch

    original = torch.load

    @functools.wraps(original)
    def trusting_load(*args, **kwargs):
        kwargs["weights_only"] = False
        return original(*args, **kwargs)
    torch.load = trusting_load


def _symlink_refusal_removed() -> None:
    from pathlib import Path

    def make(orig):
        def follows_links(folder, name):
            if Path(name).is_absolute() or ".." in Path(name).parts:
                return orig(folder, name)
            return Path(folder) / name
        return follows_links
    replace_everywhere("cnnlab.run.files", "output_path", make)


def _nan_loss_accepted() -> None:
    # The loop's only guard against a NaN/inf loss is torch.isfinite on the running loss; this
    # version believes every loss is finite, so training carries on with NaN weights.
    import torch

    original = torch.isfinite

    def always_finite(x):
        return torch.ones_like(original(x))
    loop = importlib.import_module("cnnlab.train.loop")
    shim = type(sys)("torch_without_nan_check")
    shim.__dict__.update(torch.__dict__)
    shim.isfinite = always_finite
    loop.torch = shim


def _nan_setting_accepted() -> None:
    # A NaN in a config file or option passes every range check (nan < 0 is False) unless
    # something asks math.isfinite; this version never asks.
    import math

    config_io = importlib.import_module("cnnlab.config_io")
    shim = type(sys)("math_without_nan_check")
    shim.__dict__.update(math.__dict__)
    shim.isfinite = lambda x: True
    config_io.math = shim


def _array_channels_reversed() -> None:
    import numpy as np

    def make(orig):
        @functools.wraps(orig)
        def bgr(image, channels):
            t = orig(image, channels)
            return t.flip(0) if isinstance(image, np.ndarray) and image.ndim == 3 else t
        return bgr
    replace_everywhere("cnnlab.inference", "as_uint8_tensor", make)


def _array_transposed() -> None:
    import numpy as np

    def make(orig):
        @functools.wraps(orig)
        def transposed(image, channels):
            t = orig(image, channels)
            return t.transpose(1, 2).contiguous() if isinstance(image, np.ndarray) else t
        return transposed
    replace_everywhere("cnnlab.inference", "as_uint8_tensor", make)


def _class_weights_ignored() -> None:
    def make(orig):
        @functools.wraps(orig)
        def unweighted(binary, class_weights=None, label_smoothing=0.0):
            return orig(binary, None, label_smoothing)
        return unweighted
    replace_everywhere("cnnlab.train.losses", "make_criterion", make)


def _gradients_not_clipped() -> None:
    from lightning.fabric import Fabric

    Fabric.clip_gradients = lambda self, *a, **k: None


def _lr_finder_ignores_the_curve() -> None:
    # A plausible-looking rate (the swept one nearest 1e-4) whatever the loss did: inside the
    # [1e-5, 1] that the old test accepted.
    import math

    def make(orig):
        def fixed(lrs, losses):
            near = min(lrs, key=lambda lr: abs(math.log10(lr) + 4))
            return near, near
        return fixed
    replace_everywhere("cnnlab.train.lr_find", "suggest_lr", make)


FIT = "tests/train/test_fit.py"
MUTANTS: tuple[Mutant, ...] = (
    Mutant("resume-from-scratch", "--resume continues from last.pt",
           (f"{FIT}::test_resume_ends_with_the_same_history_and_weights",
            "tests/train/test_processes.py::test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run",
            "tests/reliability/test_matrix.py::test_interruptions_one_kill_per_point"), _resume_from_scratch),
    Mutant("identity-augmentation", "augmentation changes the images it is asked to",
           ("tests/data/test_augment.py::test_rotation_by_90_degrees_turns_a_bar_on_a_non_square_image",
            "tests/data/test_augment.py::test_shift_moves_content_by_at_most_the_fraction"),
           _identity_augmentation),
    Mutant("constant-gradcam++", "Grad-CAM++ follows the paper's formula",
           ("tests/explain/test_explain.py::test_gradcam_plus_plus_matches_the_papers_formula",
            "tests/explain/test_explain.py::test_every_method_writes_a_png[gradcam++]"),
           _constant_gradcam_plus_plus),
    Mutant("every-rank-rank-0-shard", "data-parallel ranks see disjoint shards covering the split",
           ("tests/data/test_load_data.py::test_loader_shards_cover_the_split_for_data_parallel",),
           _every_rank_gets_rank_0),
    Mutant("exif-ignored", "EXIF orientation is applied when images are decoded",
           ("tests/data/test_folders.py::test_exif_rotation_and_16_bit_grey_keep_their_look",), _exif_ignored),
    Mutant("16-bit-clipped", "16-bit grey keeps its brightness (scaled, not clipped)",
           ("tests/data/test_folders.py::test_exif_rotation_and_16_bit_grey_keep_their_look",),
           _sixteen_bit_clipped),
    Mutant("pickle-refusal-removed", "checkpoints holding arbitrary pickles are refused",
           (f"{FIT}::test_checkpoints_refuse_foreign_pickles",
            "tests/reliability/test_matrix.py::test_untrusted_files_run_nothing"), _pickle_refusal_removed),
    Mutant("symlink-refusal-removed", "no write follows a symlink out of the run folder",
           ("tests/test_run.py::test_outputs_never_go_through_a_symlink",), _symlink_refusal_removed),
    Mutant("nan-loss-accepted", "a NaN loss stops training and keeps the last good checkpoint",
           (f"{FIT}::test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint",), _nan_loss_accepted),
    Mutant("nan-setting-accepted", "a NaN setting is refused with exit 2",
           ("tests/cli/test_settings.py::test_config_files_are_checked_by_the_same_declarations",),
           _nan_setting_accepted),
    Mutant("array-channels-reversed", "an H×W×3 array is RGB, as PIL holds it",
           ("tests/inference/test_inference.py::test_all_image_forms_agree",), _array_channels_reversed),
    Mutant("array-transposed", "an array is H×W(×C), not W×H",
           ("tests/inference/test_inference.py::test_all_image_forms_agree",), _array_transposed),
    Mutant("class-weights-ignored", "--class-weights changes the loss",
           (f"{FIT}::test_class_weights_and_tensorboard",), _class_weights_ignored),
    Mutant("gradients-not-clipped", "--grad-clip bounds the gradient norm",
           (f"{FIT}::test_gradient_accumulation_and_clipping_train",), _gradients_not_clipped),
    Mutant("lr-finder-ignores-the-curve", "lr-find suggests the rate of steepest descent",
           ("tests/train/test_lr_find_and_mnist.py::test_lr_find_suggests_a_sane_learning_rate",),
           _lr_finder_ignores_the_curve),
)

BY_NAME = {m.name: m for m in MUTANTS}


def apply(name: str) -> None:
    """Break cnnlab the way mutant `name` does (called at interpreter start-up)."""
    BY_NAME[name].apply()
