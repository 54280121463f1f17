"""Image sizes and input shapes: the one parser every stage uses, and how a shape is written.

Two words, used the same way across cnnlab's API:

* an **input size** is (height, width): `build_model(..., input_size=28)`, `image_size=150`,
  `Preprocessing.input_size`, a checkpoint's architecture dict;
* an **input shape** is (channels, height, width): `summary(model, "3x224x224")`,
  `check_input_size(model, (1, 28, 28))`, `receptive_fields(model, (3, 224, 224))`.

`parse_size(value, dims, what)` reads either from an int (a square size), a pair or triple of
ints, or text such as "28", "150x120", "3×224×224" or "3,32,32", and refuses anything else
with one message, in the format of every setting's: "<what>: <value> (expected <form>, e.g. ...)".
No torch here: the CLI parses sizes before anything heavy is imported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from numbers import Integral
from typing import Any

from cnnlab.errors import SizeError

# dims → what the value must look like, and examples of it
_FORMS = {
    2: ("a positive int or [height, width]", "28 or 150x150"),
    3: ("C×H×W: channels, height and width as three positive ints", "3x224x224 or (1, 28, 28)"),
}
_SEPARATORS = re.compile(r"\s*[x×X*,]\s*")
_DIGITS = re.compile(r"[0-9]+")


def parse_size(value: Any, dims: int, what: str) -> tuple[int, ...]:
    """`value` as a tuple of `dims` positive ints: (height, width) for 2, (C, H, W) for 3.

    Accepts an int or digit text (only for dims=2: a square), a sequence of ints (a tuple,
    list or torch.Size), or text with the numbers separated by x, ×, * or commas. `what` names
    the value in the error, e.g. "input_size" or "--image-size".
    """
    if dims not in _FORMS:
        raise ValueError(f"parse_size: dims={dims!r}, expected 2 or 3")
    if isinstance(value, str):
        parts = _SEPARATORS.split(value.strip())
        numbers = [int(p) for p in parts] if all(_DIGITS.fullmatch(p) for p in parts) else None
    elif _is_int(value):
        numbers = [int(value)]
    elif isinstance(value, Sequence) and all(_is_int(v) for v in value):
        numbers = [int(v) for v in value]
    else:
        numbers = None
    if numbers is not None and dims == 2 and len(numbers) == 1:
        numbers = numbers * 2
    if numbers is None or len(numbers) != dims or min(numbers) < 1:
        form, examples = _FORMS[dims]
        raise SizeError(f"{what}: {value!r} (expected {form}, e.g. {examples})")
    return tuple(numbers)


def as_hw(value: Any, what: str = "input_size") -> tuple[int, int]:
    """(height, width) from an int, a pair or text such as "150x120" (see `parse_size`)."""
    height, width = parse_size(value, 2, what)
    return height, width


def as_chw(value: Any, what: str = "input_shape") -> tuple[int, int, int]:
    """(channels, height, width) from a triple or text such as "3x224x224" (see `parse_size`)."""
    channels, height, width = parse_size(value, 3, what)
    return channels, height, width


def format_shape(shape: Sequence[int] | None) -> str:
    """(64, 224, 224) -> '64×224×224'; None -> '?'."""
    return "?" if shape is None else "×".join(str(v) for v in shape)


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)
