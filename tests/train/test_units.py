import math

import pytest
import torch

from cnnlab.errors import ConfigError
from cnnlab.train.callbacks import MetricMonitor
from cnnlab.train.config import TrainConfig, config_from_dict, merge_settings
from cnnlab.train.losses import inverse_frequency_weights, make_criterion, probabilities
from cnnlab.train.optim import LRSchedule, build_optimizer
from cnnlab.run.files import new_run_dir


def test_monitor_counts_patience_with_min_delta_like_the_tutorial():
    m = MetricMonitor("val_loss", "min", patience=2, min_delta=0.001)
    assert m.update(1.0, 1)
    assert not m.update(0.9995, 2)  # better, but not by more than delta
    assert not m.should_stop
    assert not m.update(0.9992, 3)
    assert m.should_stop and m.best_epoch == 1
    m2 = MetricMonitor("val_acc", "max")
    m2.load_state_dict(m.state_dict() | {"best": 0.5})
    assert m2.update(0.6, 4) and m2.best == 0.6


def test_step_schedule_decays_every_step_size_epochs():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], "adam", 1e-3)
    s = LRSchedule(opt, "step", epochs=30, steps_per_epoch=5, step_size=10, gamma=0.1)
    lrs = []
    for _epoch in range(30):
        lrs.append(s.lr)
        for _ in range(5):
            opt.step()
            s.step_batch()
    assert lrs[0] == pytest.approx(1e-3) and lrs[9] == pytest.approx(1e-3)
    assert lrs[10] == pytest.approx(1e-4) and lrs[25] == pytest.approx(1e-5)


def test_warmup_then_cosine():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], "sgd", 0.1)
    s = LRSchedule(opt, "cosine", epochs=10, steps_per_epoch=10, warmup_epochs=1)
    first = s.lr
    lrs = []
    for _ in range(100):
        lrs.append(s.lr)
        opt.step()
        s.step_batch()
    assert first == pytest.approx(0.01)  # 1/10 of the way through warmup
    assert max(lrs) == pytest.approx(0.1, rel=1e-3) and lrs.index(max(lrs)) == 9
    assert lrs[-1] < 0.001


def test_onecycle_and_plateau():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], "sgd", 0.1)
    s = LRSchedule(opt, "onecycle", epochs=2, steps_per_epoch=10)
    lrs = []
    for _ in range(20):
        lrs.append(s.lr)
        opt.step()
        s.step_batch()
    assert lrs[0] < 0.01 and max(lrs) == pytest.approx(0.1, rel=0.05)
    opt = build_optimizer([p], "sgd", 0.1)
    s = LRSchedule(opt, "plateau", epochs=5, steps_per_epoch=1, gamma=0.5, plateau_patience=1)
    for v in (1.0, 1.0, 1.0):
        s.step_epoch(v)
    assert s.lr == pytest.approx(0.05)
    with pytest.raises(ConfigError, match="warmup_epochs"):
        LRSchedule(opt, "onecycle", 2, 10, warmup_epochs=1)


def test_optimizers_and_l2():
    p = torch.nn.Parameter(torch.ones(1))
    for name in ("sgd", "adam", "adamw", "rmsprop"):
        opt = build_optimizer([p], name, 0.1, weight_decay=1e-5)
        assert opt.param_groups[0]["weight_decay"] == 1e-5
    assert build_optimizer([p], "rmsprop", 0.1).param_groups[0]["alpha"] == 0.9  # Keras' rho


def test_binary_head_loss_and_probabilities():
    logits = torch.tensor([[2.0], [-1.0]])
    probs = probabilities(logits, binary=True)
    assert torch.allclose(probs.sum(1), torch.ones(2)) and probs[0, 1] > 0.8
    loss = make_criterion(True)(logits, torch.tensor([1, 0]))
    expected = -(math.log(torch.sigmoid(torch.tensor(2.0))) + math.log(1 - torch.sigmoid(torch.tensor(-1.0)))) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_inverse_frequency_weights():
    w = inverse_frequency_weights([90, 10])
    assert w.tolist() == pytest.approx([100 / 180, 100 / 20])


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="unknown key 'epoch'; did you mean 'epochs'"):
        config_from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match=r"batch_size: 'big' \(expected a whole number\)"):
        config_from_dict({"batch_size": "big"})
    with pytest.raises(ConfigError, match="lr: -0.1"):
        TrainConfig(lr=-0.1)
    with pytest.raises(ConfigError, match="data.split"):
        config_from_dict({"data": {"split": [0.5, 0.5]}})
    with pytest.raises(ConfigError, match="optimizer: 'adamax'"):
        TrainConfig(optimizer="adamax")
    with pytest.raises(ConfigError, match="augment: unknown preset"):
        TrainConfig(augment="heavy")


def test_settings_route_data_fields_and_yaml_numbers():
    cfg = merge_settings(None, {"data": "mnist", "data_root": "/x", "image_size": (32, 32), "lr": "1e-3"})
    assert cfg.data.source == "mnist" and cfg.data.data_root == "/x" and cfg.data.image_size == (32, 32)
    assert cfg.lr == 1e-3
    again = config_from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict()


def test_run_names_increment_and_never_overwrite(tmp_path):
    a = new_run_dir(tmp_path)
    (a / "last.pt").write_text("x")
    b = new_run_dir(tmp_path)
    (b / "last.pt").write_text("x")
    c = new_run_dir(tmp_path, "demo")
    (c / "f").write_text("x")
    d = new_run_dir(tmp_path, "demo")
    assert [p.name for p in (a, b, c, d)] == ["exp", "exp2", "demo", "demo2"]
