"""Fine-tuning that helps (issue 18): BatchNorm frozen, the frozen bottom without autograd,
discriminative learning rates, a schedule per phase, the head phase on cached features."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab.train.transfer_setup as transfer_setup
from cnnlab.models import build_model
from cnnlab.models.pretrained_weights import efficientnet_lite0_state_dict
from cnnlab.models.transfer import TransferNet, param_groups
from cnnlab.train import fit
from cnnlab.train.training_model import TrainingModel

QUICK = dict(data="digits", image_size=32, limit=150, batch_size=32, quiet=True)


def _bn_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: b.clone() for n, b in model.named_buffers() if n.startswith("backbone.") and "running" in n}


@pytest.fixture(scope="module")
def pretrained_bn() -> dict[str, torch.Tensor]:
    return {f"backbone.{k}": v for k, v in efficientnet_lite0_state_dict().items() if "running" in k}


def _net(num_classes: int = 3) -> TransferNet:
    return TransferNet.from_model(build_model("efficientnet_lite0", weights="imagenet"), num_classes)


def test_batchnorm_statistics_unchanged_by_a_finetune_phase(tmp_path, pretrained_bn):
    r = fit(transfer="finetune", unfreeze="all", head_epochs=1, epochs=2, lr=3e-3, restore_best=False,
            project=tmp_path, name="bn", **QUICK)  # the weights the fine-tuning phase ended with
    after = _bn_buffers(r.model)
    assert after.keys() == pretrained_bn.keys() and len(after) > 20
    assert [k for k in after if not torch.equal(after[k], pretrained_bn[k])] == []
    weights = {k[len("backbone."):]: v for k, v in r.model.state_dict().items() if k.startswith("backbone.")}
    reference = efficientnet_lite0_state_dict()
    assert not torch.equal(weights["blocks.0.0.conv_dw.weight"], reference["blocks.0.0.conv_dw.weight"])  # it did train

    # the rule can be turned off, and then the statistics move
    r = fit(transfer="finetune", unfreeze="all", head_epochs=1, epochs=2, lr=3e-3, bn_frozen=False, restore_best=False,
            project=tmp_path, name="bn-train", **QUICK)
    after = _bn_buffers(r.model)
    assert any(not torch.equal(after[k], pretrained_bn[k]) for k in after)


def test_frozen_bottom_records_no_autograd_graph():
    net = _net()
    net.bn_frozen = True
    net.set_trainable(net.top_blocks(2) + ["head"])  # blocks.6 and conv_head train
    net.train()
    seen = {}
    net.backbone.blocks[5].register_forward_hook(lambda m, i, o: seen.__setitem__("frozen", o))
    net.backbone.blocks[6].register_forward_hook(lambda m, i, o: seen.__setitem__("trained", o))
    net(torch.randn(2, 3, 64, 64)).sum().backward()
    assert not seen["frozen"].requires_grad and seen["frozen"].grad_fn is None  # as under torch.no_grad
    assert seen["trained"].requires_grad
    assert not any(m.training for m in net.backbone.modules() if isinstance(m, nn.BatchNorm2d))
    assert net.head.training
    net.bn_frozen = False
    net.train()
    assert net.backbone.blocks[6][0].bn1.training and not net.backbone.blocks[5][0].bn1.training


def test_discriminative_rates_and_no_decay_on_biases_and_norms():
    net = _net()
    groups = param_groups(net, 1e-3, backbone_lr_mult=1.0, lr_decay=0.5)
    by_name = {g["name"]: g for g in groups}
    assert groups[-1]["name"] == "head" and groups[-1]["lr"] == pytest.approx(1e-3)
    assert by_name["backbone.conv_head..bn2"]["lr"] == pytest.approx(5e-4)  # the top block: × 0.5
    assert by_name["backbone.blocks.6"]["lr"] == pytest.approx(2.5e-4)     # the next: × 0.5 again
    assert by_name["backbone.conv_stem..bn1"]["lr"] == pytest.approx(1e-3 * 0.5 ** 9)
    assert all(g["weight_decay"] == 0.0 and all(p.ndim == 1 for p in g["params"])
               for g in groups if g["name"].endswith(":no_decay"))
    assert all(p.ndim > 1 for g in groups if "weight_decay" not in g for p in g["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))
    # entering a phase sets every group to the phase's rate × its scale
    opt = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.01)
    tm = TrainingModel(net, {}, phases=[{"name": "head", "start_epoch": 1, "lr": 1e-3, "trainable": ["head"]},
                                        {"name": "ft", "start_epoch": 4, "lr": 1e-4,
                                         "trainable": net.top_blocks(2) + ["head"]}])
    tm.phase_index = 1
    tm.enter_phase(tm.phases[1], opt)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["head"] == pytest.approx(1e-4) and lrs["backbone.blocks.6"] == pytest.approx(2.5e-5)
    assert tm.phase_epochs(10, 0) == 3 and tm.phase_epochs(10, 1) == 7


def test_each_phase_warms_up_and_decays_on_its_own(tmp_path, monkeypatch):
    calls = []
    real = transfer_setup.extract_features
    monkeypatch.setattr(transfer_setup, "extract_features", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    r = fit(transfer="finetune", unfreeze="1", head_epochs=2, epochs=4, lr=1e-3, finetune_lr=1e-4,
            scheduler="cosine", warmup_epochs=0.5, project=tmp_path, name="phases", **QUICK)
    assert sorted(calls) == ["train", "val"]  # the head phase ran on cached features
    lrs = [h["lr"] for h in r.history]
    # cosine to (almost) zero at the end of each phase, then the next phase starts high again
    assert lrs[0] > lrs[1] and lrs[1] < 1e-3 * 0.05
    assert lrs[2] > 1e-4 * 0.4 and lrs[3] < 1e-4 * 0.05
    assert r.metrics["test_acc"] > 0.15  # above chance (10 classes): the test split goes through the whole net
