"""The fit loop on the scikit-learn digits: run folder, reproducibility, resume, callbacks."""

import json

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint
from cnnlab.run.history import read_history
from cnnlab.train import fit, load_model
from cnnlab.train.loop import NonFiniteLossError

class count_optimizer_steps:
    """Counts every optimizer step taken inside the `with` block (torch's global step hook)."""

    def __enter__(self):
        self.n = 0

        def hook(optimizer, args, kwargs):
            self.n += 1
        self.handle = register_optimizer_step_post_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


# Small and quick: 8×8 digits upsampled to the tiny CNN's 28×28, 400 training images.
QUICK = dict(data="digits", model="mnist-tiny", limit=400, batch_size=32, quiet=True)


def test_fit_writes_a_complete_run_folder(tmp_path):
    r = fit(epochs=3, project=tmp_path, name="run", **QUICK)
    files = {p.name for p in r.run_dir.iterdir()}
    assert {"config.yaml", "history.csv", "best.pt", "last.pt", "curves.png", "metrics.json"} <= files
    hist = read_history(r.run_dir / "history.csv")
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert set(hist[0]) >= {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"}
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    metrics = json.loads((r.run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["test_acc"] > 0.5
    ckpt = load_checkpoint(r.run_dir)
    assert ckpt["class_names"] == [str(i) for i in range(10)] and ckpt["preprocessing"]["input_size"] == [28, 28]
    assert ckpt["architecture"]["name"] == "mnist-tiny"
    # a checkpoint alone predicts the same as the returned model
    loaded = load_model(r.run_dir / "best.pt")
    x = torch.randn(4, 1, 28, 28)
    assert torch.allclose(loaded.model(x), r.model(x), atol=1e-6)


def test_same_seed_same_history_and_config_reruns_exactly(tmp_path):
    a = fit(epochs=2, project=tmp_path, augment="light", **QUICK)
    b = fit(epochs=2, project=tmp_path, augment="light", **QUICK)
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    assert [[h[k] for k in keys] for h in a.history] == [[h[k] for k in keys] for h in b.history]
    c = fit(a.run_dir / "config.yaml", project=tmp_path, quiet=True)
    assert [h["val_loss"] for h in c.history] == [h["val_loss"] for h in a.history]
    d = fit(epochs=2, project=tmp_path, augment="light", seed=1, **QUICK)
    assert [h["val_loss"] for h in d.history] != [h["val_loss"] for h in a.history]


def test_resume_ends_with_the_same_history_and_weights(tmp_path):
    settings = dict(QUICK, augment="light", scheduler="step", step_size=1, gamma=0.5, dropout=0.2,
                    model="mnist-tutorial")
    straight = fit(epochs=4, project=tmp_path, name="straight", **settings)
    with count_optimizer_steps() as part_steps:
        part = fit(epochs=2, project=tmp_path, name="part", **settings)
    saved = load_checkpoint(part.run_dir / "last.pt")
    with count_optimizer_steps() as resumed_steps:
        resumed = fit(resume=part.run_dir, epochs=4, quiet=True)
    assert resumed.run_dir == part.run_dir
    # It continued from last.pt: the resumed process trained epochs 3 and 4 only (as many optimizer
    # steps as the first two epochs took), and epochs 1–2 are the saved rows, timings included.
    assert saved["epoch"] == 2 and [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert part_steps.n > 0 and resumed_steps.n == part_steps.n
    assert resumed.history[:2] == saved["history"]
    keys = ("train_loss", "val_loss", "val_acc", "lr")
    assert [[h[k] for k in keys] for h in resumed.history] == [[h[k] for k in keys] for h in straight.history]
    for (n, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), n
    with pytest.raises(ConfigError, match=r"\['lr'\] cannot change when resuming"):
        fit(resume=part.run_dir, lr=0.1, quiet=True)


def test_early_stopping_restores_the_best_weights(tmp_path):
    # min_delta so large that no epoch after the first counts as an improvement
    r = fit(epochs=10, patience=2, min_delta=10.0, project=tmp_path, **QUICK)
    assert r.stopped_early and len(r.history) == 3 and r.best_epoch == 1
    best = load_checkpoint(r.run_dir / "best.pt")
    last = load_checkpoint(r.run_dir / "last.pt")
    assert best["epoch"] == 1 and last["epoch"] == 3
    for k, v in r.model.state_dict().items():
        assert torch.equal(v, best["model"][k])


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import cnnlab.train.loop as loop

    real = loop.make_criterion
    calls = {"n": 0}

    def poisoned(*a, **k):  # fault injection: the loss turns NaN in the second epoch
        crit = real(*a, **k)

        def f(logits, y):
            calls["n"] += 1
            loss = crit(logits, y)
            return loss * float("nan") if calls["n"] > 20 else loss
        return f

    monkeypatch.setattr(loop, "make_criterion", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step \d+.*lower learning rate"):
        fit(epochs=3, project=tmp_path, name="nan", **QUICK)
    run = tmp_path / "nan"
    assert load_checkpoint(run / "last.pt")["epoch"] == 1
    assert json.loads((run / "metrics.json").read_text())["status"] == "diverged"


def test_atomic_checkpoint_survives_a_failed_write(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "epoch": 1}, path)

    def broken_save(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(Exception, match="No space left on device.*previous version.*intact"):
        save_checkpoint({"model": {"w": torch.zeros(3)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_refuse_foreign_pickles(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"format": "cnnlab-checkpoint", "x": Evil()}))
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(bad)
    assert not (tmp_path / "pwned").exists()


def test_class_weights_and_tensorboard(tmp_path):
    r = fit(epochs=1, class_weights="auto", tensorboard=True, project=tmp_path, **QUICK)
    assert list((r.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    # The weights reach the loss: the same seed with class 0 weighted ×20 gives another loss and
    # other weights.
    plain = fit(epochs=1, project=tmp_path, **QUICK)
    heavy = fit(epochs=1, class_weights=[20.0] + [1.0] * 9, project=tmp_path, **QUICK)
    assert abs(heavy.history[0]["train_loss"] - plain.history[0]["train_loss"]) > 1e-3
    assert any(not torch.equal(p, q) for p, q in zip(heavy.model.parameters(), plain.model.parameters()))
    with pytest.raises(ConfigError, match="3 weights for 10 classes"):
        fit(epochs=1, class_weights=[1.0, 2.0, 3.0], project=tmp_path, **QUICK)


def test_gradient_accumulation_and_clipping_train(tmp_path):
    sgd = dict(optimizer="sgd", lr=0.05, nesterov=True, weight_decay=0.0, project=tmp_path, **QUICK)
    with count_optimizer_steps() as steps:
        r = fit(epochs=2, accumulate=2, grad_clip=1.0, label_smoothing=0.1, **sgd)
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    with count_optimizer_steps() as single:
        fit(epochs=2, label_smoothing=0.1, **sgd)
    per_epoch = single.n // 2  # batches per epoch: one step each without accumulation
    assert steps.n == 2 * -(-per_epoch // 2)  # with accumulate=2, one step per 2 batches (and the odd last)
    # Clipping bounds each step: with max norm 1e-7 the weights stay (almost) where they started,
    # as close as a run whose learning rate is a billionth; without clipping they move far.
    clipped = fit(epochs=1, grad_clip=1e-7, **sgd)
    start = fit(epochs=1, **dict(sgd, lr=1e-9))
    moved = fit(epochs=1, **sgd)

    def distance(a, b):
        return float(sum((p - q).pow(2).sum() for p, q in zip(a.model.parameters(), b.model.parameters())) ** 0.5)
    assert distance(clipped, start) < 1e-4 < 0.1 < distance(moved, start)


def test_model_too_big_for_its_input_is_refused_before_training(tmp_path):
    from cnnlab.errors import ModelError

    with pytest.raises(ModelError, match="features"):
        fit(epochs=1, data="digits", model="vgg16", project=tmp_path, quiet=True, limit=20)
    assert not any(tmp_path.iterdir())
