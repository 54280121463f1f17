"""Deep learning's "convolution" is cross-correlation: the kernel slides without flipping."""

import numpy as np
import torch
import torch.nn.functional as F
from scipy import signal

from cnnlab.scratch.layers import Conv2d
from cnnlab.scratch.naive import naive_conv2d


def engine_conv(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One image, one channel, one filter, no bias: the engine's Conv2d on 2-D arrays."""
    conv = Conv2d(1, 1, w.shape, bias=False, dtype=np.float64)
    conv.params["weight"][...] = w
    return conv.forward(x[None, None])[0, 0]


def test_engine_torch_and_scipy_correlate_agree():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((9, 11)), rng.standard_normal((3, 4))   # asymmetric kernel
    ours = engine_conv(x, w)
    expected = signal.correlate(x, w, mode="valid")
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    torch_out = F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(w)[None, None])
    np.testing.assert_allclose(ours, torch_out[0, 0].numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(naive_conv2d(x[None, None], w[None, None])[0, 0], expected,
                               rtol=1e-12, atol=1e-12)
    # and it is *not* the signal-processing convolution (unless the kernel is symmetric)
    assert not np.allclose(ours, signal.convolve(x, w, mode="valid"))


def test_flipped_kernel_gives_scipy_convolve():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((10, 8)), rng.standard_normal((3, 3))
    flipped = w[::-1, ::-1]
    np.testing.assert_allclose(engine_conv(x, flipped), signal.convolve(x, w, mode="valid"),
                               rtol=1e-12, atol=1e-12)


def test_multichannel_conv_sums_per_channel_correlations():
    """A C-channel filter correlates each channel with its slice and adds the C results."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((3, 7, 7)), rng.standard_normal((3, 3, 3))
    conv = Conv2d(3, 1, 3, bias=False, dtype=np.float64)
    conv.params["weight"][...] = w[None]
    ours = conv.forward(x[None])[0, 0]
    np.testing.assert_allclose(ours, signal.correlate(x, w, mode="valid")[0],
                               rtol=1e-12, atol=1e-12)
