"""cnnlab's Dropout: the same distribution as torch's (keep rate, scaling, gradient), eval is identity."""

import torch
from torch import nn

from cnnlab.models.fast_modules import Dropout


def test_keeps_1_minus_p_and_scales_by_its_inverse():
    torch.manual_seed(0)
    d = Dropout(0.3).train()
    x = torch.ones(200_000)
    y = d(x)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.7) < 0.005
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.7))
    assert abs(y.mean().item() - 1.0) < 0.01  # unbiased, as torch's


def test_gradient_is_the_mask_and_eval_is_identity():
    d = Dropout(0.5).train()
    x = torch.randn(1000, requires_grad=True)
    y = d(x)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float() * 2.0)
    d.eval()
    assert torch.equal(d(x), x)
    assert isinstance(d, nn.Dropout) and torch.equal(Dropout(0.0).train()(x), x)


def test_tutorial_model_uses_it_and_keeps_its_parameter_count():
    from cnnlab.models import build_model

    model = build_model("mnist-tutorial")
    assert sum(isinstance(m, Dropout) for m in model.modules()) == 3
    assert sum(p.numel() for p in model.parameters()) == 220_234
