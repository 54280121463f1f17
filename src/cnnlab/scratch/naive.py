"""The readable reference: convolution as nested loops, exactly as the formula reads.

Slow on purpose (one Python iteration per output value); `Conv2d` computes the same numbers
with one matrix multiply, and the tests check that the two agree.
"""

from __future__ import annotations

import numpy as np

from cnnlab.scratch.shapes import as_pair, conv_output_size

IntOrPair = int | tuple[int, int]


def _pad(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def naive_conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None,
                 stride: IntOrPair = 1, padding: IntOrPair = 0,
                 dilation: IntOrPair = 1) -> np.ndarray:
    """Cross-correlation of ``x`` (N×C×H×W) with ``weight`` (K×C×F×F), one output at a time.

    ``out[n, k, i, j] = b[k] + Σ_{c,u,v} x_pad[n, c, i·S + u·D, j·S + v·D] · w[k, c, u, v]``

    This is what deep learning calls "convolution": the kernel is *not* flipped (flip it and
    you get the signal-processing convolution, see the tests against scipy). Output sizes are
    floored like torch.
    """
    n, c, h, w = x.shape
    k, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = as_pair(stride), as_pair(padding), as_pair(dilation)
    oh = conv_output_size(h, kh, sh, ph, dh, dim="height")
    ow = conv_output_size(w, kw, sw, pw, dw, dim="width")
    x_pad = _pad(x, ph, pw)
    out = np.zeros((n, k, oh, ow), dtype=np.result_type(x, weight))
    for b in range(n):
        for f in range(k):
            for i in range(oh):
                for j in range(ow):
                    window = x_pad[b, :, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                                   j * sw:j * sw + dw * (kw - 1) + 1:dw]
                    out[b, f, i, j] = np.sum(window * weight[f])
            if bias is not None:
                out[b, f] += bias[f]
    return out


def naive_conv2d_backward(dout: np.ndarray, x: np.ndarray, weight: np.ndarray,
                          stride: IntOrPair = 1, padding: IntOrPair = 0,
                          dilation: IntOrPair = 1
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of `naive_conv2d`, by the same loops run backwards.

    Each output ``out[n, k, i, j]`` was ``Σ window · w[k] + b[k]``, so its upstream gradient
    ``g = dout[n, k, i, j]`` flows to ``w[k]`` as ``g · window``, to the window's input pixels
    as ``g · w[k]``, and to ``b[k]`` as ``g``. Pixels shared by overlapping windows add up.

    Returns:
        ``(dx, dw, db)`` with the shapes of ``x``, ``weight`` and the bias (K,).
    """
    n, c, h, w = x.shape
    k, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = as_pair(stride), as_pair(padding), as_pair(dilation)
    _, _, oh, ow = dout.shape
    x_pad = _pad(x, ph, pw)
    dx_pad = np.zeros_like(x_pad)
    dweight = np.zeros_like(weight)
    for b in range(n):
        for f in range(k):
            for i in range(oh):
                for j in range(ow):
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                    g = dout[b, f, i, j]
                    dweight[f] += g * x_pad[b, :, rows, cols]
                    dx_pad[b, :, rows, cols] += g * weight[f]
    dbias = dout.sum(axis=(0, 2, 3))
    return dx_pad[:, :, ph:ph + h, pw:pw + w], dweight, dbias
