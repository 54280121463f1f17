"""The engine against torch: forward outputs and every gradient, float64, 1e-6 relative.

Each property test draws random shapes, kernels, strides and paddings, runs the engine's
forward and backward with a random upstream gradient, and compares with torch's functional op
and autograd on the same numbers.
"""

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.scratch.layers import AvgPool2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from cnnlab.scratch.loss import SoftmaxCrossEntropy
from cnnlab.scratch.naive import naive_conv2d, naive_conv2d_backward
from cnnlab.scratch.optim import SGD

SETTINGS = settings(max_examples=40, deadline=None)


def assert_close(actual, expected, rtol=1e-6):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    # atol only guards entries that are exactly 0 in one and ~1e-16 in the other
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-12)


def leaf(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a)).requires_grad_(True)


@st.composite
def conv_case(draw):
    n, c, k = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, pad, dil = draw(st.integers(1, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 2))
    h = draw(st.integers(max(1, dil * (kh - 1) + 1 - 2 * pad), 10))
    w = draw(st.integers(max(1, dil * (kw - 1) + 1 - 2 * pad), 10))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return (n, c, h, w), k, (kh, kw), stride, pad, dil, bias, seed


@SETTINGS
@given(conv_case())
def test_conv2d_matches_torch(case):
    shape, k, kernel, stride, pad, dil, bias, seed = case
    rng = np.random.default_rng(seed)
    conv = Conv2d(shape[1], k, kernel, stride, pad, dil, bias=bias, dtype=np.float64, rng=rng)
    x = rng.standard_normal(shape)
    out = conv.forward(x)

    xt, wt = leaf(x), leaf(conv.params["weight"])
    bt = leaf(conv.params["bias"]) if bias else None
    out_t = F.conv2d(xt, wt, bt, stride=stride, padding=pad, dilation=dil)
    assert out.shape == tuple(out_t.shape)
    assert_close(out, out_t)

    dout = rng.standard_normal(out.shape)
    dx = conv.backward(dout)
    out_t.backward(torch.from_numpy(dout))
    assert_close(dx, xt.grad)
    assert_close(conv.grads["weight"], wt.grad)
    if bias:
        assert_close(conv.grads["bias"], bt.grad)
    assert set(conv.grads) == set(conv.params)


@settings(max_examples=30, deadline=None)
@given(conv_case())
def test_naive_conv2d_matches_torch(case):
    shape, k, kernel, stride, pad, dil, _, seed = case
    rng = np.random.default_rng(seed)
    x, w, b = (rng.standard_normal(shape), rng.standard_normal((k, shape[1], *kernel)),
               rng.standard_normal(k))
    out = naive_conv2d(x, w, b, stride, pad, dil)
    xt, wt, bt = leaf(x), leaf(w), leaf(b)
    out_t = F.conv2d(xt, wt, bt, stride=stride, padding=pad, dilation=dil)
    assert_close(out, out_t)

    dout = rng.standard_normal(out.shape)
    dx, dw, db = naive_conv2d_backward(dout, x, w, stride, pad, dil)
    out_t.backward(torch.from_numpy(dout))
    assert_close(dx, xt.grad)
    assert_close(dw, wt.grad)
    assert_close(db, bt.grad)


@st.composite
def pool_case(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 4))               # < kernel: overlapping windows
    pad = draw(st.integers(0, kernel // 2))        # torch's limit for pooling
    h = draw(st.integers(max(1, kernel - 2 * pad), 10))
    w = draw(st.integers(max(1, kernel - 2 * pad), 10))
    seed = draw(st.integers(0, 2**32 - 1))
    return (n, c, h, w), kernel, stride, pad, seed


@SETTINGS
@given(pool_case())
def test_max_pool_matches_torch(case):
    shape, kernel, stride, pad, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    pool = MaxPool2d(kernel, stride, pad)
    out = pool.forward(x)
    xt = leaf(x)
    out_t = F.max_pool2d(xt, kernel, stride, pad)
    assert_close(out, out_t)
    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.from_numpy(dout))
    assert_close(pool.backward(dout), xt.grad)


@SETTINGS
@given(pool_case(), st.booleans())
def test_avg_pool_matches_torch(case, count_include_pad):
    shape, kernel, stride, pad, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    pool = AvgPool2d(kernel, stride, pad, count_include_pad=count_include_pad)
    out = pool.forward(x)
    xt = leaf(x)
    out_t = F.avg_pool2d(xt, kernel, stride, pad, count_include_pad=count_include_pad)
    assert_close(out, out_t)
    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.from_numpy(dout))
    assert_close(pool.backward(dout), xt.grad)


def test_max_pool_ties_route_to_first_like_torch():
    x = np.zeros((1, 1, 4, 4))                     # every window is a tie
    pool = MaxPool2d(2)
    pool.forward(x)
    xt = leaf(x)
    F.max_pool2d(xt, 2).backward(torch.ones(1, 1, 2, 2, dtype=torch.float64))
    assert_close(pool.backward(np.ones((1, 1, 2, 2))), xt.grad)


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_linear_relu_and_cross_entropy_match_torch(n, d_in, d_out, bias, seed):
    rng = np.random.default_rng(seed)
    fc = Linear(d_in, d_out, bias=bias, dtype=np.float64, rng=rng)
    relu = ReLU()
    loss_fn = SoftmaxCrossEntropy()
    x = rng.standard_normal((n, d_in))
    labels = rng.integers(0, d_out, n)

    h = fc.forward(x)
    loss = loss_fn.forward(relu.forward(h), labels)
    xt, wt = leaf(x), leaf(fc.params["weight"])
    bt = leaf(fc.params["bias"]) if bias else None
    h_t = F.linear(xt, wt, bt)
    loss_t = F.cross_entropy(F.relu(h_t), torch.from_numpy(labels))
    assert_close(h, h_t)
    assert_close(loss, loss_t)

    dx = fc.backward(relu.backward(loss_fn.backward()))
    loss_t.backward()
    assert_close(dx, xt.grad)
    assert_close(fc.grads["weight"], wt.grad)
    if bias:
        assert_close(fc.grads["bias"], bt.grad)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 2000.0, 0.0]])
    labels = np.array([0, 2])
    loss_fn = SoftmaxCrossEntropy()
    lt = leaf(logits)
    loss_t = F.cross_entropy(lt, torch.from_numpy(labels))
    assert_close(loss_fn.forward(logits, labels), loss_t)
    loss_t.backward()
    assert_close(loss_fn.backward(), lt.grad)


def torch_twin(model: Sequential, dtype=torch.float64) -> torch.nn.Sequential:
    """The same network in torch, with the engine's weights copied in."""
    conv, fc1, fc2 = model[0], model[5], model[7]
    twin = torch.nn.Sequential(
        torch.nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1),
        torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.AvgPool2d(3, 1, 1),
        torch.nn.Flatten(), torch.nn.Linear(fc1.in_features, fc1.out_features),
        torch.nn.ReLU(), torch.nn.Linear(fc2.in_features, fc2.out_features)).to(dtype)
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.params.items()})
    return twin


def small_model(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2d(1, 4, 3, padding=1, dtype=dtype, rng=rng), ReLU(), MaxPool2d(2),
                      AvgPool2d(3, 1, 1), Flatten(), Linear(4 * 4 * 4, 16, dtype=dtype, rng=rng),
                      ReLU(), Linear(16, 3, dtype=dtype, rng=rng))


def test_sequential_with_sgd_momentum_tracks_torch_step_for_step():
    """Five SGD steps (momentum, weight decay) on a whole model give torch's weights."""
    rng = np.random.default_rng(3)
    model = small_model(np.float64)
    twin = torch_twin(model)
    assert set(model.params) == set(twin.state_dict())       # "0.weight", "5.bias", …
    opt = SGD(model, lr=0.1, momentum=0.9, weight_decay=1e-3)
    opt_t = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    loss_fn = SoftmaxCrossEntropy()
    for _ in range(5):
        x, y = rng.standard_normal((6, 1, 8, 8)), rng.integers(0, 3, 6)
        loss = loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward())
        opt.step()
        opt_t.zero_grad()
        loss_t = F.cross_entropy(twin(torch.from_numpy(x)), torch.from_numpy(y))
        loss_t.backward()
        opt_t.step()
        assert_close(loss, loss_t)
    state = twin.state_dict()
    for key, value in model.params.items():
        assert_close(value, state[key])


def test_float32_model_stays_float32_and_agrees_with_torch():
    model = small_model(np.float32)
    twin = torch_twin(model, torch.float32)
    x = np.random.default_rng(4).standard_normal((5, 1, 8, 8))   # float64 in: cast to float32
    out = model.forward(x)
    assert out.dtype == np.float32
    dx = model.backward(np.ones_like(out))
    assert dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.grads.values())
    xt = torch.from_numpy(x.astype(np.float32)).requires_grad_(True)
    out_t = twin(xt)
    out_t.sum().backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_dropout_train_and_eval():
    rng = np.random.default_rng(5)
    drop = Dropout(0.25, rng=rng)
    x = np.ones((200, 500))
    out = drop.forward(x)
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01                       # ~p of the values dropped
    np.testing.assert_allclose(out[kept], 1 / 0.75)             # survivors scaled by 1/(1 − p)
    dout = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(drop.backward(dout), dout * out)   # same mask backwards
    drop.eval()
    np.testing.assert_array_equal(drop.forward(x), x)
    np.testing.assert_array_equal(drop.backward(dout), dout)


def test_flatten_matches_torch_order():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    flat = Flatten()
    np.testing.assert_array_equal(flat.forward(x), torch.flatten(torch.from_numpy(x), 1).numpy())
    assert flat.backward(flat.forward(x)).shape == x.shape
