"""cnnlab's Sequential pools before an unwatched ReLU: the same numbers, fewer values touched."""

import copy
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.models import build_model
from cnnlab.models.fast_modules import Sequential


def plain_copy(model: nn.Sequential) -> nn.Sequential:
    """The same layers and weights in torch's own nn.Sequential (always ReLU, then pool)."""
    return nn.Sequential(OrderedDict(copy.deepcopy(dict(model.named_children()))))


def images_with_ties(n: int, channels: int, size: int) -> torch.Tensor:
    # small integers: many exact ties inside pooling windows, and all-negative windows
    g = torch.Generator().manual_seed(0)
    return torch.randint(-3, 4, (n, channels, size, size), generator=g).float()


@pytest.mark.parametrize("name,channels,size", [
    ("keras-mnist", 1, 28), ("mnist-tiny", 1, 28),
    ("spec:conv8k3p1 bn relu maxpool2 conv16k3 relu maxpool3s2p1 fc10", 3, 20),
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_outputs_and_gradients_equal_torchs_sequential_bit_for_bit(name, channels, size, channels_last):
    torch.manual_seed(0)
    ours = build_model(name, in_channels=channels, input_size=size)
    assert isinstance(ours, Sequential)
    ref = plain_copy(ours)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    ours, ref = ours.to(memory_format=fmt), ref.to(memory_format=fmt)
    for x in (images_with_ties(8, channels, size), torch.randn(8, channels, size, size)):
        x = x.contiguous(memory_format=fmt)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = ours(xa), ref(xb)
        assert torch.equal(ya, yb)
        y = torch.arange(8) % 10
        F.cross_entropy(ya, y).backward()
        F.cross_entropy(yb, y).backward()
        assert torch.equal(xa.grad, xb.grad)
        for (n, pa), pb in zip(ours.named_parameters(), ref.parameters()):
            assert torch.equal(pa.grad, pb.grad), n
        ours.zero_grad(), ref.zero_grad()


def relu_input_shapes(model: nn.Module, x: torch.Tensor, monkeypatch) -> list[tuple[int, ...]]:
    seen = []
    relu = F.relu

    def recording_relu(t, inplace=False):
        seen.append(tuple(t.shape))
        return relu(t, inplace=inplace)

    monkeypatch.setattr(F, "relu", recording_relu)
    model(x)
    monkeypatch.setattr(F, "relu", relu)
    return seen


def test_unwatched_relu_runs_on_the_pooled_map(monkeypatch):
    model = build_model("keras-mnist")
    shapes = relu_input_shapes(model, torch.randn(2, 1, 28, 28), monkeypatch)
    # relu1 and relu2 run after their pools (13×13 and 5×5, not 26×26 and 11×11); relu3 has no pool
    assert shapes[:3] == [(2, 32, 13, 13), (2, 64, 5, 5), (2, 64, 3, 3)]


def test_a_hook_sees_the_plain_order_and_the_same_output(monkeypatch):
    model = build_model("keras-mnist")
    x = torch.randn(2, 1, 28, 28)
    expected = model(x)
    captured = {}
    handle = model.relu1.register_forward_hook(lambda m, i, o: captured.update(relu1=o))
    assert relu_input_shapes(model, x, monkeypatch)[0] == (2, 32, 26, 26)
    assert captured["relu1"].shape == (2, 32, 26, 26) and captured["relu1"].min() >= 0
    assert torch.equal(model(x), expected)
    handle.remove()
    assert relu_input_shapes(model, x, monkeypatch)[0] == (2, 32, 13, 13)


def test_a_global_hook_also_keeps_the_plain_order(monkeypatch):
    model = build_model("keras-mnist")
    handle = nn.modules.module.register_module_forward_hook(lambda m, i, o: None)
    try:
        assert relu_input_shapes(model, torch.randn(2, 1, 28, 28), monkeypatch)[0] == (2, 32, 26, 26)
    finally:
        handle.remove()


def test_in_place_relu_is_left_in_order(monkeypatch):
    model = Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Flatten())
    assert relu_input_shapes(model, torch.randn(1, 1, 10, 10), monkeypatch) == [(1, 4, 8, 8)]
