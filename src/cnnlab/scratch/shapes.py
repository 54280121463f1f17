"""Output-size arithmetic of a sliding window: (W − F + 2P)/S + 1, and the errors it raises.

Policy on fractional sizes. The CS231n notes call a layer whose windows do not tile the padded
input exactly *invalid* (a 7-wide input, 3-wide kernel, stride 3 gives (7 − 3)/3 + 1 = 2.33);
PyTorch instead floors the size and silently ignores the last rows and columns. This engine
floors by default, like torch, so a model behaves the same in both; pass ``strict=True`` (to
the helper or to any layer) to get the textbook behaviour, a `ModelError` that shows the
formula with your numbers.
"""

from __future__ import annotations

from cnnlab.errors import ModelError


def as_pair(value: int | tuple[int, int], what: str = "value") -> tuple[int, int]:
    """Return ``(v, v)`` for an int and the pair itself for a pair (height first, then width)."""
    if isinstance(value, int):
        return value, value
    pair = tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ModelError(f"{what} must be an int or a pair of ints (height, width), got {value!r}")
    return pair[0], pair[1]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1, *, strict: bool = False, layer: str = "",
                     dim: str = "width") -> int:
    """Number of window positions along one axis: ``(W − F + 2P)/S + 1``.

    With dilation ``D`` the kernel's taps are ``D`` apart, so it spans
    ``F_eff = D·(F − 1) + 1`` input pixels and ``F_eff`` replaces ``F`` in the formula.

    Args:
        size: input size ``W`` along this axis (height or width).
        kernel: kernel size ``F``.
        stride: step ``S`` between windows.
        padding: zeros ``P`` added on each side.
        dilation: spacing ``D`` between kernel taps.
        strict: raise when the size is fractional (textbook rule) instead of flooring it
            (PyTorch's rule, the default).
        layer: label of the layer for error messages, e.g. ``"Conv2d(conv1)"``.
        dim: ``"height"`` or ``"width"``, for error messages.

    Raises:
        ModelError: non-positive kernel, stride or dilation, negative padding, a kernel larger
            than the padded input, or (with ``strict``) a fractional output size.

    >>> conv_output_size(227, 11, stride=4)
    55
    >>> conv_output_size(7, 3, stride=3)   # (7 − 3)/3 + 1 = 2.33, floored like torch
    2
    """
    where = f"{layer}: " if layer else ""
    if kernel < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise ModelError(f"{where}kernel {kernel}, stride {stride}, dilation {dilation} must be "
                         f"≥ 1 and padding {padding} must be ≥ 0")
    span = dilation * (kernel - 1) + 1
    spans = f" (kernel {kernel} dilated by {dilation} spans {span})" if dilation > 1 else ""
    padded = size + 2 * padding
    if span > padded:
        raise ModelError(f"{where}kernel {dim} {span}{spans} is larger than the padded input "
                         f"{dim} {size} + 2·{padding} = {padded}; add padding, use a smaller "
                         f"kernel or feed a larger input")
    exact = (padded - span) / stride + 1
    if strict and (padded - span) % stride != 0:
        raise ModelError(f"{where}output {dim} ({size} − {span} + 2·{padding})/{stride} + 1 = "
                         f"{exact:.4g} is not a whole number{spans}; change padding or stride")
    # Floor division is exactly what torch does (the last rows/columns that do not fill a
    # whole window are never visited).
    return (padded - span) // stride + 1
