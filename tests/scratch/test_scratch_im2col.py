"""im2col/col2im: the textbook 227×227 example, the layout of a column, and the adjoint law."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.errors import ModelError
from cnnlab.scratch import col2im, im2col
from cnnlab.scratch.shapes import conv_output_size


def test_alexnet_conv1_is_one_matrix_multiply():
    """CS231n's example: 227×227×3, 96 filters 11×11×3, stride 4 → X_col 363×3025,
    W_row 96×363, output 55×55×96, equal to torch's conv2d."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 227, 227))
    w = rng.standard_normal((96, 3, 11, 11))
    assert conv_output_size(227, 11, stride=4) == 55

    x_col = im2col(x, 11, stride=4)
    w_row = w.reshape(96, -1)
    assert x_col.shape == (363, 3025)
    assert w_row.shape == (96, 363)

    out = w_row @ x_col                                   # 96 × 3025
    out_hwc = out.T.reshape(55, 55, 96)                   # the 55×55×96 volume
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=4)[0].permute(1, 2, 0)
    np.testing.assert_allclose(out_hwc, expected.numpy(), rtol=1e-10, atol=1e-10)


def test_column_holds_one_receptive_field():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9, 10))
    f, s, p = 3, 2, 1
    cols = im2col(x, f, stride=s, padding=p)
    oh, ow = conv_output_size(9, f, s, p), conv_output_size(10, f, s, p)
    assert cols.shape == (3 * f * f, 2 * oh * ow)
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    n, i, j = 1, 2, 3
    column = cols[:, n * oh * ow + i * ow + j]            # columns are ordered (n, i, j)
    np.testing.assert_array_equal(column, x_pad[n, :, i * s:i * s + f, j * s:j * s + f].ravel())


def test_dilated_column_skips_pixels():
    x = np.arange(2 * 7 * 7, dtype=np.float64).reshape(1, 2, 7, 7)
    cols = im2col(x, 3, dilation=2)                       # spans 5 pixels, 3×3 positions
    assert cols.shape == (2 * 9, 9)
    np.testing.assert_array_equal(cols[:, 4], x[0, :, 1:6:2, 1:6:2].ravel())


def test_max_pool_padding_value():
    x = -np.ones((1, 1, 2, 2))
    cols = im2col(x, 2, stride=2, padding=1, pad_value=-np.inf)
    assert np.isneginf(cols).sum() == 4 * 3               # each corner window: 3 pads, 1 pixel
    assert (cols.max(axis=0) == -1).all()


def test_col2im_counts_overlaps():
    """col2im(im2col(ones)) counts how many windows cover each pixel."""
    ones = np.ones((1, 1, 1, 5))
    counts = col2im(im2col(ones, (1, 3)), ones.shape, (1, 3))
    np.testing.assert_array_equal(counts[0, 0, 0], [1, 2, 3, 2, 1])


def test_col2im_inverts_non_overlapping_tiles():
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 6))
    np.testing.assert_array_equal(col2im(im2col(x, 2, stride=2), x.shape, 2, stride=2), x)


@st.composite
def window_geometry(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = draw(st.integers(1, 2))
    pad = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(1, dil * (kh - 1) + 1 - 2 * pad), 9))
    w = draw(st.integers(max(1, dil * (kw - 1) + 1 - 2 * pad), 9))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w)
    return shape, (kh, kw), stride, pad, dil


@settings(max_examples=40, deadline=None)
@given(window_geometry(), st.integers(0, 2**32 - 1))
def test_col2im_is_adjoint_of_im2col(geometry, seed):
    """<im2col(x), y> = <x, col2im(y)> for every x and y: col2im is im2col's transpose."""
    shape, kernel, stride, pad, dil = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    cols = im2col(x, kernel, stride, pad, dil)
    y = rng.standard_normal(cols.shape)
    lhs = np.vdot(cols, y)
    rhs = np.vdot(x, col2im(y, shape, kernel, stride, pad, dil))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)


@settings(max_examples=40, deadline=None)
@given(window_geometry())
def test_output_size_matches_torch(geometry):
    """The default (floor) policy gives torch's output size, fractional cases included."""
    shape, (kh, kw), stride, pad, dil = geometry
    x = torch.zeros(shape)
    w = torch.zeros(1, shape[1], kh, kw)
    out = F.conv2d(x, w, stride=stride, padding=pad, dilation=dil)
    assert out.shape[2:] == (conv_output_size(shape[2], kh, stride, pad, dil),
                             conv_output_size(shape[3], kw, stride, pad, dil))


def test_output_size_examples_and_strict_policy():
    assert conv_output_size(32, 5, stride=1, padding=2) == 32     # "same" padding
    assert conv_output_size(7, 3, stride=2) == 3                  # (7 − 3)/2 + 1
    assert conv_output_size(7, 3, stride=3) == 2                  # 2.33 floored, like torch
    with pytest.raises(ModelError, match=r"\(7 − 3 \+ 2·0\)/3 \+ 1 = 2\.333 is not a whole"):
        conv_output_size(7, 3, stride=3, strict=True)
    assert conv_output_size(7, 3, stride=2, strict=True) == 3     # exact sizes pass strict
    with pytest.raises(ModelError, match="kernel width 5 is larger than the padded input "
                                         r"width 3 \+ 2·0 = 3"):
        conv_output_size(3, 5)
