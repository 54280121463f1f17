"""Transfer learning end to end on the digits (upsampled to 3×32×32) with the offline
EfficientNet-Lite0 backbone: extract, extract-cached, finetune, run-folder records."""

from __future__ import annotations

import json

import pytest
import torch

import cnnlab.train.transfer_setup as transfer_setup
from cnnlab.errors import ConfigError
from cnnlab.models.pretrained_weights import efficientnet_lite0_state_dict
from cnnlab.train import fit, load_model

QUICK = dict(data="digits", image_size=32, limit=200, batch_size=32, quiet=True)


def _backbone_state(model) -> dict[str, torch.Tensor]:
    return {k[len("backbone."):]: v.clone() for k, v in model.state_dict().items() if k.startswith("backbone.")}


@pytest.fixture(scope="module")
def pretrained() -> dict[str, torch.Tensor]:
    return {k: v for k, v in efficientnet_lite0_state_dict().items() if not k.startswith("classifier.")}


def test_extract_keeps_the_frozen_base_bit_for_bit(tmp_path, pretrained):
    r = fit(transfer="extract", augment="light", epochs=2, lr=3e-3, project=tmp_path, name="x", **QUICK)
    assert r.config.model == "efficientnet_lite0"  # the offline default backbone
    after = _backbone_state(r.model)
    assert after.keys() == pretrained.keys()
    changed = [k for k in after if not torch.equal(after[k], pretrained[k])]
    assert changed == []  # weights and BatchNorm statistics alike
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    record = json.loads((r.run_dir / "transfer.json").read_text())
    assert record["phases"][0]["trainable"] == ["head"] and "backbone.blocks.6" in record["phases"][0]["frozen"]
    assert r.metrics["parameters"]["trainable"] == 1280 * 10 + 10
    # the checkpoint alone rebuilds the transfer net (no weights fetched) and predicts the same
    loaded = load_model(r.run_dir)
    assert loaded.architecture["name"] == "transfer:efficientnet_lite0"
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(loaded.model(x), r.model(x), atol=1e-5)


def test_finetune_changes_only_the_unfrozen_blocks(tmp_path, pretrained):
    r = fit(transfer="finetune", unfreeze="2", head_epochs=1, epochs=2, lr=3e-3, finetune_lr=1e-3,
            backbone_lr_mult=0.5, project=tmp_path, name="ft", **QUICK)
    record = json.loads((r.run_dir / "transfer.json").read_text())
    head, tune = record["phases"]
    assert head["trainable"] == ["head"] and tune["start_epoch"] == 2
    assert tune["trainable"] == ["backbone.blocks.6", "backbone.conv_head..bn2", "head"]
    assert tune["trainable_parameters"] > head["trainable_parameters"]
    after = _backbone_state(r.model)
    top = ("blocks.6.", "conv_head.", "bn2.")
    changed = {k for k in after if not torch.equal(after[k], pretrained[k])}
    assert changed and all(k.startswith(top) for k in changed)
    assert any(k.startswith("blocks.6.") and k.endswith("weight") for k in changed)
    assert r.history[1]["lr"] == pytest.approx(1e-3)  # the head's rate in phase two
    ckpt = torch.load(r.run_dir / "last.pt", weights_only=True)
    assert ckpt["frozen"]["phase"] == "finetune"


def test_extract_cached_reuses_the_features_on_the_second_run(tmp_path, monkeypatch):
    calls = []
    real = transfer_setup.extract_features
    monkeypatch.setattr(transfer_setup, "extract_features",
                        lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    first = fit(transfer="extract-cached", epochs=2, lr=3e-3, project=tmp_path, **QUICK)
    assert sorted(calls) == ["train", "val"]
    second = fit(transfer="extract-cached", epochs=2, lr=3e-3, project=tmp_path, **QUICK)
    assert sorted(calls) == ["train", "val"]  # no second pass over the base
    record = json.loads((second.run_dir / "transfer.json").read_text())
    assert record["feature_cache"]["train"]["reused"] and record["feature_cache"]["val"]["reused"]
    assert [h["val_loss"] for h in first.history] == [h["val_loss"] for h in second.history]
    assert second.metrics["test_acc"] > 0.5  # evaluated on images, through the whole net
    # other images → another key → computed again
    fit(transfer="extract-cached", epochs=1, project=tmp_path, **{**QUICK, "limit": 150})
    assert sorted(calls[2:]) == ["train", "val"]


def test_head_layers_and_config_errors(tmp_path):
    r = fit(transfer="extract-cached", head=[32, 16], head_dropout=0.3, epochs=1, project=tmp_path, **QUICK)
    linears = [m for m in r.model.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1280, 32), (32, 16), (16, 10)]
    assert sum(isinstance(m, torch.nn.Dropout) for m in r.model.head) == 2
    with pytest.raises(ConfigError, match="no augmentation is possible"):
        fit(transfer="extract-cached", augment="light", project=tmp_path, **QUICK)
    with pytest.raises(ConfigError, match="unfreeze"):
        fit(transfer="finetune", unfreeze="top", project=tmp_path, **QUICK)
    with pytest.raises(ConfigError, match=r"unfreeze: 20 \(the backbone has 9 blocks"):
        fit(transfer="finetune", unfreeze="20", project=tmp_path, **QUICK)


def test_finetune_resumed_across_the_phase_change_matches_a_straight_run(tmp_path):
    settings = dict(QUICK, limit=150, transfer="finetune", unfreeze="1", head_epochs=1, lr=3e-3, project=tmp_path)
    straight = fit(epochs=3, name="straight", **settings)
    part = fit(epochs=1, name="part", **settings)
    resumed = fit(resume=part.run_dir, epochs=3, quiet=True)
    keys = ("train_loss", "val_loss", "lr")
    assert [[h[k] for k in keys] for h in resumed.history] == [[h[k] for k in keys] for h in straight.history]
    for (n, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), n
