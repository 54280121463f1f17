"""Learning-rate finder (fastai's `lr_find`, after Leslie Smith): train briefly while the
learning rate grows exponentially, plot loss against learning rate, and suggest one.

The suggestion is the learning rate of the steepest descent of the smoothed loss — where the
model learns fastest — found before the loss blows up. The model's weights are restored after.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnlab.data import load_data
from cnnlab.run.data_settings import resolve_data_config
from cnnlab.train.config import TrainConfig, merge_settings
from cnnlab.train.losses import make_criterion
from cnnlab.train.model_setup import build_training_model
from cnnlab.train.optim import build_optimizer


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]  # smoothed
    suggestion: float
    min_loss_lr: float
    plot: Path | None


def lr_find(config: TrainConfig | None = None, *, start_lr: float = 1e-7, end_lr: float = 10.0,
            steps: int = 100, smoothing: float = 0.98, out: str | Path | None = "runs/lr_find.png",
            **settings: Any) -> LRFindResult:
    """Sweep the learning rate from `start_lr` to `end_lr` over `steps` batches; suggest one."""
    cfg = merge_settings(config, settings)
    torch.manual_seed(cfg.seed)
    data = load_data(resolve_data_config(cfg))
    tm = build_training_model(cfg, data)
    model = tm.model
    initial = copy.deepcopy(model.state_dict())
    criterion = make_criterion(tm.binary_output, label_smoothing=cfg.label_smoothing)
    optimizer = build_optimizer(tm.param_groups(start_lr), cfg.optimizer, start_lr, cfg.weight_decay,
                                cfg.momentum, cfg.nesterov)
    gamma = (end_lr / start_lr) ** (1 / max(1, steps - 1))
    loader = data.loader("train", cfg.batch_size, augment=cfg.augmentation, seed=cfg.seed)
    lrs, losses = [], []
    avg, best = 0.0, math.inf
    step = 0
    model.train()
    while step < steps:
        for x, y in loader:
            lr = start_lr * gamma**step
            for g in optimizer.param_groups:
                g["lr"] = lr
            loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            avg = smoothing * avg + (1 - smoothing) * value
            smooth = avg / (1 - smoothing ** (step + 1))  # bias correction, as in Adam
            lrs.append(lr)
            losses.append(smooth)
            step += 1
            if not math.isfinite(value) or smooth > 4 * best or step >= steps:
                break
            best = min(best, smooth)
        else:
            loader.set_epoch(step)
            continue
        break
    model.load_state_dict(initial)
    suggestion, min_lr = suggest_lr(lrs, losses)
    plot = _plot(lrs, losses, suggestion, out) if out is not None else None
    return LRFindResult(lrs, losses, suggestion, min_lr, plot)


def suggest_lr(lrs: list[float], losses: list[float]) -> tuple[float, float]:
    """(steepest-descent lr, lr of the minimum loss / 10) over the finite part of the sweep."""
    pts = [(lr, l) for lr, l in zip(lrs, losses) if math.isfinite(l)]
    if len(pts) < 3:
        return lrs[0], lrs[0]
    i_min = min(range(len(pts)), key=lambda i: pts[i][1])
    pts_before = pts[: i_min + 1] if i_min >= 2 else pts
    logs = [math.log10(lr) for lr, _ in pts_before]
    grads = [(pts_before[i + 1][1] - pts_before[i][1]) / (logs[i + 1] - logs[i]) for i in range(len(pts_before) - 1)]
    i_steep = min(range(len(grads)), key=lambda i: grads[i])
    return pts_before[i_steep][0], pts[i_min][0] / 10


def _plot(lrs: list[float], losses: list[float], suggestion: float, out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnlab.atomic import atomic_write

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.set_xscale("log")
    ax.axvline(suggestion, color="red", linestyle="--", label=f"suggested lr {suggestion:.2e}")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return Path(out)
