"""im2col and col2im: turn a convolution into one matrix multiply, and back.

A conv layer slides a ``C×F×F`` window over the padded input. im2col copies every window into
one column, so the whole layer becomes ``out = W_row @ X_col``: the textbook example is a
227×227×3 image with 96 filters of 11×11×3 at stride 4, where ``X_col`` is 363×3025
(11·11·3 = 363 values per window, 55·55 = 3025 windows), ``W_row`` is 96×363 and the product,
96×3025, reshapes to the 55×55×96 output. The price is memory: neighbouring windows overlap,
so every input pixel is copied up to ``(F/S)²`` times.

col2im goes the other way and *adds* overlapping copies back together; it is the adjoint
(transpose) of im2col, which is exactly what the backward pass needs.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnlab.scratch.shapes import as_pair, conv_output_size

IntOrPair = int | tuple[int, int]


def _geometry(shape: tuple[int, ...], kernel_size: IntOrPair, stride: IntOrPair,
              padding: IntOrPair, dilation: IntOrPair):
    """Unpack the four settings to pairs and compute the output height and width (floored)."""
    if len(shape) != 4:
        raise ValueError(f"expected an N×C×H×W shape, got {tuple(shape)}")
    kh, kw = as_pair(kernel_size, "kernel_size")
    sh, sw = as_pair(stride, "stride")
    ph, pw = as_pair(padding, "padding")
    dh, dw = as_pair(dilation, "dilation")
    oh = conv_output_size(shape[2], kh, sh, ph, dh, dim="height")
    ow = conv_output_size(shape[3], kw, sw, pw, dw, dim="width")
    return (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow)


def im2col(x: np.ndarray, kernel_size: IntOrPair, stride: IntOrPair = 1,
           padding: IntOrPair = 0, dilation: IntOrPair = 1,
           pad_value: float = 0.0) -> np.ndarray:
    """Copy every receptive field of ``x`` into one column of a matrix.

    For input ``x`` of shape ``N×C×H×W``, padded by ``P`` and read by ``F×F`` windows at
    stride ``S`` (taps ``D`` apart), the result has shape ``(C·F·F) × (N·H_out·W_out)``::

        X_col[(c, u, v), (n, i, j)] = x_pad[n, c, i·S + u·D, j·S + v·D]

    Rows are ordered ``(c, u, v)`` -- the order of ``weight.reshape(K, -1)`` for a weight of
    shape ``K×C×F×F`` -- and columns ``(n, i, j)``. A convolution is then
    ``W_row @ X_col + b``, shape ``K × (N·H_out·W_out)``.

    Args:
        x: input, ``N×C×H×W``.
        kernel_size, stride, padding, dilation: an int or a (height, width) pair each.
        pad_value: value of the padding (``-inf`` for max pooling, so padding never wins).

    Returns:
        A new C-contiguous array of dtype ``x.dtype``.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = _geometry(
        x.shape, kernel_size, stride, padding, dilation)
    n, c = x.shape[:2]
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    # sliding_window_view makes a zero-copy view of every (dilated) window position,
    # N×C×H'×W'×Fh_eff×Fw_eff; slicing keeps every S-th position and every D-th tap. The one
    # copy happens in the final reshape. Measured on the 1×3×227×227 case (float32): 1.35 ms,
    # against 1.47 ms for a loop over the F·F kernel taps like col2im's, and shorter.
    windows = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]  # N×C×Ho×Wo×Fh×Fw
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * kh * kw, n * oh * ow)


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: IntOrPair,
           stride: IntOrPair = 1, padding: IntOrPair = 0,
           dilation: IntOrPair = 1) -> np.ndarray:
    """Scatter-add columns back into an image: the adjoint of `im2col`.

    ``col2im(Y)[n, c, h, w] = Σ Y[(c, u, v), (n, i, j)]`` over all ``(u, v, i, j)`` with
    ``i·S + u·D − P = h`` and ``j·S + v·D − P = w``: every pixel collects the values of all
    the windows it appeared in. Hence ``<im2col(x), Y> = <x, col2im(Y)>`` for all ``x, Y``,
    and the gradient of a loss w.r.t. ``x`` is ``col2im`` of its gradient w.r.t. ``X_col``.
    Values that landed in the padding are dropped.

    Args:
        cols: ``(C·F·F) × (N·H_out·W_out)``, laid out as `im2col` returns it.
        x_shape: the shape ``(N, C, H, W)`` of the image to rebuild.
        kernel_size, stride, padding, dilation: the settings used for `im2col`.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = _geometry(
        x_shape, kernel_size, stride, padding, dilation)
    n, c, h, w = x_shape
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    x_pad = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    # One strided add per kernel tap (u, v): tap (u, v) of the window at output (i, j) reads
    # input pixel (i·S + u·D, j·S + v·D), so all output positions for one tap form one strided
    # slice. Windows overlap across taps, never within one, so `+=` on a slice is safe. A
    # single np.add.at over precomputed indices does the same; measured on the 2×227×227,
    # 11×11, stride-4 case it took 11.8 ms against 5.9 ms for this loop.
    for u in range(kh):
        for v in range(kw):
            rows = slice(u * dh, u * dh + sh * (oh - 1) + 1, sh)
            columns = slice(v * dw, v * dw + sw * (ow - 1) + 1, sw)
            x_pad[:, :, rows, columns] += cols[:, u, v].transpose(1, 0, 2, 3)
    return x_pad[:, :, ph:ph + h, pw:pw + w]
