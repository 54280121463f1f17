"""--ema: timm's ModelEmaV3 weight average, validated, saved as the best model and tested (issue 18 item 4)."""

import copy
import json

import torch
from torch import nn

from cnnlab.run import Run
from cnnlab.run.checkpoint import load_checkpoint
from cnnlab.train import fit
from cnnlab.train.ema import WeightEma
from cnnlab.train.losses import make_criterion

QUICK = dict(data="digits", model="mnist-tiny", limit=300, batch_size=32, quiet=True, report=False)


def test_the_average_lags_the_live_weights():
    live = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(live.weight)
    ema = WeightEma(live, decay=0.9998)
    seen = []
    for step in range(1, 41):  # the live weight walks up by 1 per step
        with torch.no_grad():
            live.weight += 1.0
        ema.update(live)
        seen.append(float(ema.module.weight.detach()))
    assert seen[0] == 1.0  # the first update copies (the decay warms up from 0)
    assert all(0 < w < step for step, w in enumerate(seen[1:], start=2))  # behind the live weight
    assert all(b > a for a, b in zip(seen, seen[1:]))  # but following it
    assert 30 < seen[-1] < 40 and 0.9 < ema.decay < 0.95
    assert float(live.weight.detach()) == 40.0  # the live model is untouched


def val_loss_of(weights, data, model):
    model.load_state_dict(weights)
    model.eval()
    x, y = zip(*data.loader("val", 256))
    with torch.no_grad():
        return float(make_criterion(False)(model(torch.cat(x)), torch.cat(y)))


def test_fit_with_ema_validates_and_saves_the_average_as_best(tmp_path, capsys):
    r = fit(epochs=3, ema=True, lr=3e-3, project=tmp_path, name="ema", **{**QUICK, "quiet": False})
    out = capsys.readouterr().out
    assert "averaging: weight EMA (timm ModelEmaV3" in out and "averaged weights of epoch" in out
    best = load_checkpoint(r.run_dir / "best.pt")
    average, live = best["model"], best["live_model"]
    assert average.keys() == live.keys()
    assert any(not torch.equal(average[k], live[k]) for k in average if average[k].is_floating_point())
    # the history's validation loss of the best epoch is the average's, not the live weights'
    data = Run(r.run_dir).data()  # the splits as the run saw them (8×8 digits resized to 28×28)
    model = copy.deepcopy(r.model)
    recorded = r.history[best["epoch"] - 1]["val_loss"]
    assert abs(val_loss_of(average, data, model) - recorded) < 1e-4
    assert abs(val_loss_of(live, data, model) - recorded) > 1e-3
    # the run's model (what evaluate, predict and the report load) is the saved average
    for k, v in load_checkpoint(r.run_dir / "best.pt")["model"].items():
        assert torch.equal(r.model.state_dict()[k], v.cpu()), k
    metrics = json.loads((r.run_dir / "metrics.json").read_text())
    assert metrics["weights"]["ema"] is True and metrics["weights"]["steps"] == 3 * 10  # 300 images, 32 a batch


def test_resume_continues_the_average(tmp_path):
    settings = dict(QUICK, ema=True, restore_best=False)
    straight = fit(epochs=3, project=tmp_path, name="straight", **settings)
    part = fit(epochs=2, project=tmp_path, name="part", **settings)
    resumed = fit(resume=part.run_dir, epochs=3, quiet=True)
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in straight.history]
    a, b = load_checkpoint(straight.run_dir / "last.pt"), load_checkpoint(resumed.run_dir / "last.pt")
    for key in ("model", "live_model"):
        for n, p in a[key].items():
            assert torch.equal(p, b[key][n]), (key, n)
