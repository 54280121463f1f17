"""Transfer learning, the training side: from a TrainConfig to a TransferNet with its phases.

Modes (`transfer`):
- `extract-cached`: the frozen base runs once over train and val; the features are cached on
  disk under `<project>/.cache/features/`, keyed by a hash of the backbone (architecture and
  weights), the preprocessing and the images, and the head trains on them (no augmentation
  possible: the Keras book's fast feature extraction). A second run with the same key never
  runs the base.
- `extract`: the frozen base end to end, so augmentation works (the book's second way).
- `finetune`: phase "head" trains the new head with the base frozen for `head_epochs`
  (0: half the epochs) — on cached features unless `cached_head` is off — then phase
  "finetune" unfreezes the top `unfreeze` blocks (or all) and continues at `finetune_lr`
  (default lr/10) on augmented images. Each block below the top trains at `lr_decay` × the
  rate of the one above (`backbone_lr_mult` scales the whole backbone); BatchNorm stays in
  inference mode with its ImageNet statistics (`bn_frozen`); each phase has its own schedule.
- `none` with `weights`: start from the weights and train everything (the tutorial's (b)).

Weights (`weights`): "imagenet" (the default when `transfer` is set), a cnnlab run folder or
checkpoint (multi-stage: its model minus its classifier becomes the backbone), or a state-dict file.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from cnnlab.atomic import atomic_write
from cnnlab.data.bundle import DataBundle
from cnnlab.errors import ConfigError, ModelError
from cnnlab.models.transfer import TransferNet, parameter_counts
from cnnlab.run.checkpoint import load_model
from cnnlab.run.data_settings import weights_kind
from cnnlab.train.config import TrainConfig
from cnnlab.train.training_model import TrainingModel


def _source_model(cfg: TrainConfig, smoke: bool) -> tuple[nn.Module, dict[str, Any], str]:
    """The model whose body becomes the backbone, its architecture dict, and where its weights came from."""
    from cnnlab.models import build_model
    from cnnlab.models.registry import architecture_dict

    kind = weights_kind(cfg.weights)
    if kind == "run":
        loaded = load_model(cfg.weights)
        return loaded.model.train(), loaded.architecture, f"cnnlab run {loaded.path}"
    arch = architecture_dict(cfg.model, **cfg.model_kwargs)
    weights = cfg.weights or "imagenet"
    try:
        return build_model(cfg.model, weights=weights, **cfg.model_kwargs), arch, weights
    except ModelError as e:
        if not smoke:
            raise
        # A smoke run checks the config, not the weights: random ones stand in, as stand-in
        # images do for absent data.
        warnings.warn(f"smoke run with random weights: {e}", stacklevel=2)
        return build_model(cfg.model, **cfg.model_kwargs), arch, "random (smoke run; weights not here)"


def _phases(cfg: TrainConfig, net: TransferNet) -> list[dict[str, Any]]:
    backbone = net.top_blocks("all")

    def phase(name: str, description: str, start: int, trainable: list[str], lr: float) -> dict[str, Any]:
        net.set_trainable(trainable)
        counts = parameter_counts(net)
        return {"name": name, "description": description, "start_epoch": start, "lr": lr,
                "trainable": trainable, "frozen": net.frozen_blocks(),
                "trainable_parameters": counts["trainable"], "frozen_parameters": counts["frozen"]}

    if cfg.transfer in ("extract", "extract-cached"):
        phases = [phase("extract", "frozen base, training the head", 1, ["head"], cfg.lr)]
    elif cfg.transfer == "finetune":
        head_epochs = cfg.head_epochs or max(1, cfg.epochs // 2)
        top = net.top_blocks(cfg.unfreeze)
        lr = cfg.finetune_lr if cfg.finetune_lr is not None else cfg.lr / 10
        phases = [phase("head", "frozen base, training the new head", 1, ["head"], cfg.lr),
                  phase("finetune", f"unfrozen {'all' if cfg.unfreeze == 'all' else 'top ' + cfg.unfreeze} "
                        f"block(s) {top[0]}…{top[-1]} at lr {lr:g}", head_epochs + 1, top + ["head"], lr)]
    else:
        phases = [phase("all", "every layer trains from the pretrained weights", 1, backbone + ["head"], cfg.lr)]
    net.set_trainable(phases[0]["trainable"])
    return phases


def build_transfer_model(cfg: TrainConfig, data: DataBundle, smoke: bool = False):
    """The TransferNet for this config and data, frozen for its first phase (a TrainingModel)."""
    source, source_arch, origin = _source_model(cfg, smoke)
    net = TransferNet.from_model(source, data.num_classes, cfg.head, cfg.head_dropout)
    arch = {"name": f"transfer:{source_arch['name']}", "num_classes": data.num_classes,
            "in_channels": data.channels, "input_size": list(data.input_size),
            "kwargs": {"backbone": source_arch, "head": list(cfg.head), "head_dropout": cfg.head_dropout}}
    phases = _phases(cfg, net)
    finetune = cfg.transfer == "finetune"
    net.bn_frozen = finetune and cfg.bn_frozen
    tm = TrainingModel(net, arch, False, phases, 0, cfg.backbone_lr_mult, cfg.lr_decay if finetune else 1.0)
    tm.record = {"mode": cfg.transfer, "weights": origin, "backbone": source_arch["name"],
                 "feature_dim": net.feature_dim, "blocks": net.block_names(), "phases": phases}
    return tm


# --- extract-cached: features computed once, then reused ----------------------------------------

def _hash_tensor(h: "hashlib._Hash", t: torch.Tensor) -> None:
    h.update(str((t.dtype, tuple(t.shape))).encode())
    h.update(t.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def feature_cache_key(net: TransferNet, data: DataBundle, split: str) -> str:
    """sha256 of the backbone (architecture and every weight), the preprocessing, and the split's
    images (their bytes in memory, else each file's path, size and modification time)."""
    h = hashlib.sha256()
    h.update(repr(net.backbone).encode())
    for name, t in net.backbone.state_dict().items():
        h.update(name.encode())
        _hash_tensor(h, t)
    h.update(json.dumps(data.preprocessing.to_dict(), sort_keys=True).encode())
    s = data.split(split)
    _hash_tensor(h, s.labels)
    if s.images is not None:
        _hash_tensor(h, s.images)
    else:
        for p in s.paths:
            st = Path(p).stat()
            h.update(f"{Path(p).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


@torch.inference_mode()
def extract_features(net: TransferNet, data: DataBundle, split: str, batch_size: int = 64,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """The frozen backbone's features of every image of a split, in order (eval mode, no augmentation)."""
    was_training = net.training
    net.eval().to(device)
    out = [net.backbone(x).float().cpu() for x, _ in data.loader(split, batch_size, shuffle=False, device=device)]
    net.train(was_training)
    return torch.cat(out)


def cached_features(net: TransferNet, data: DataBundle, split: str, cache_dir: Path, batch_size: int = 64,
                    device: torch.device | str = "cpu") -> tuple[torch.Tensor, bool, Path]:
    """(features, True if they came from the cache, cache file) for one split."""
    path = Path(cache_dir) / f"{feature_cache_key(net, data, split)}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True), True, path
        except Exception:
            pass  # a damaged cache file is recomputed and replaced
    features = extract_features(net, data, split, batch_size, device)
    atomic_write(path, lambda f: torch.save(features, f))
    return features, False, path


class FeatureLoader:
    """Batches of cached features and labels, shuffled per epoch like `BatchLoader`."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, batch_size: int, shuffle: bool, seed: int,
                 device: torch.device | str = "cpu"):
        self.features, self.labels = features.to(device), labels.to(device)
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        for idx in order.split(self.batch_size):
            idx = idx.to(self.features.device)
            yield self.features[idx], self.labels[idx]


def cached_feature_loaders(tm, data: DataBundle, cfg: TrainConfig, device: torch.device | str = "cpu"
                           ) -> tuple[FeatureLoader, FeatureLoader]:
    """Train and val loaders over cached backbone features (computed now on a cache miss);
    what happened is added to `tm.record["feature_cache"]`."""
    cache_dir = Path(cfg.project) / ".cache" / "features"
    loaders, record = [], {}
    for split, shuffle in (("train", True), ("val", False)):
        feats, hit, path = cached_features(tm.model, data, split, cache_dir, max(cfg.batch_size, 64), device)
        record[split] = {"file": str(path), "reused": hit, "images": len(feats)}
        loaders.append(FeatureLoader(feats, data.split(split).labels, cfg.batch_size, shuffle, cfg.seed, device))
    tm.record["feature_cache"] = record
    return loaders[0], loaders[1]

