"""Finite-difference gradient checks, float64, every layer and every parameter.

For a layer f and a fixed random upstream gradient G, the scalar L = <f(x), G> has
∂L/∂x = backward(G); central differences (L(x + h·e_i) − L(x − h·e_i)) / 2h check each entry.
"""

import numpy as np
import pytest

from cnnlab.scratch.layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from cnnlab.scratch.loss import SoftmaxCrossEntropy

H = 1e-6


def numeric_grad(f, a: np.ndarray) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of a (in place)."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        saved = a[i]
        a[i] = saved + H
        up = f()
        a[i] = saved - H
        down = f()
        a[i] = saved
        grad[i] = (up - down) / (2 * H)
    return grad


def check_layer(layer, x: np.ndarray, seed: int = 0, reset=None):
    """Compare backward() with finite differences for the input and every parameter."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(layer.forward(x).shape)

    def loss() -> float:
        if reset is not None:
            reset()
        return float(np.sum(layer.forward(x) * g))

    loss()
    dx = layer.backward(g)
    analytic = {"x": dx, **{k: v.copy() for k, v in layer.grads.items()}}
    numeric = {"x": numeric_grad(loss, x),
               **{k: numeric_grad(loss, p) for k, p in layer.params.items()}}
    assert analytic.keys() == numeric.keys()
    for key in analytic:
        np.testing.assert_allclose(analytic[key], numeric[key], rtol=1e-5, atol=1e-7,
                                   err_msg=f"{type(layer).__name__}: gradient of {key}")


def images(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 1, 2), (3, 2, 1)])
def test_conv2d(stride, padding, dilation):
    conv = Conv2d(2, 3, 3, stride, padding, dilation, dtype=np.float64,
                  rng=np.random.default_rng(0))
    check_layer(conv, images((2, 2, 6, 7)))


@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1)])
def test_max_pool(kernel, stride, padding):
    check_layer(MaxPool2d(kernel, stride, padding), images((2, 2, 6, 5)))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1)])
def test_avg_pool(kernel, stride, padding, count_include_pad):
    check_layer(AvgPool2d(kernel, stride, padding, count_include_pad), images((2, 2, 6, 5)))


def test_relu():
    x = images((3, 7))
    x[np.abs(x) < 1e-3] = 0.5   # keep clear of the kink at 0, where differences are undefined
    check_layer(ReLU(), x)


def test_linear():
    check_layer(Linear(5, 4, dtype=np.float64, rng=np.random.default_rng(0)), images((3, 5)))


def test_flatten():
    check_layer(Flatten(), images((2, 3, 2, 2)))


def test_dropout_with_its_mask_held_fixed():
    drop = Dropout(0.5)

    def same_mask():
        drop.rng = np.random.default_rng(7)

    same_mask()
    check_layer(drop, images((4, 6)), reset=same_mask)


def test_sequential():
    rng = np.random.default_rng(0)
    model = Sequential(Conv2d(1, 2, 3, padding=1, dtype=np.float64, rng=rng), ReLU(),
                       MaxPool2d(2), Flatten(), Linear(8, 3, dtype=np.float64, rng=rng))
    check_layer(model, images((2, 1, 4, 4)))


def test_softmax_cross_entropy():
    logits = images((4, 5))
    labels = np.array([0, 4, 2, 2])
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    analytic = loss_fn.backward()
    numeric = numeric_grad(lambda: loss_fn.forward(logits, labels), logits)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
