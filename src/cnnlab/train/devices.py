"""Which devices and how many threads a run gets: `--device cuda:1` (one device, as timm and
Ultralytics take it) or `--accelerator`/`--devices N` (Lightning Fabric's data parallel), checked
against what this machine has before any process starts; `--threads` or $OMP_NUM_THREADS."""

from __future__ import annotations

import os
from typing import Any

import torch

from cnnlab.errors import ConfigError


def available(kind: str) -> int:
    """How many devices of a kind this machine has (CPU: cores, one process each at most)."""
    if kind == "cuda":
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if kind == "mps":
        return int(bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()))
    return os.cpu_count() or 1


def auto_kind() -> str:
    """What Fabric's accelerator 'auto' picks: a GPU when there is one, else the CPU."""
    return "cuda" if available("cuda") else "mps" if available("mps") else "cpu"


def fabric_devices(cfg: Any) -> tuple[str, int | list[int]]:
    """(accelerator, devices) for Fabric; a ConfigError when the machine lacks them."""
    if cfg.device is not None:
        kind, _, index = cfg.device.partition(":")
        have = available(kind)
        if kind != "cpu" and have == 0:
            reason = "torch.cuda.is_available() is False" if kind == "cuda" else "torch.backends.mps.is_available() is False"
            raise ConfigError(f"device: {cfg.device!r} is not available on this machine ({reason}); "
                              f"use device cpu{' or one of cuda:0…' if kind == 'mps' else ''}")
        if index:
            if int(index) >= have:
                raise ConfigError(f"device: {cfg.device!r}, but this machine has {have} CUDA device(s) "
                                  f"(expected cuda:0 to cuda:{have - 1})")
            return kind, [int(index)]
        return kind, 1
    kind = auto_kind() if cfg.accelerator == "auto" else cfg.accelerator
    if kind not in ("cpu", "cuda", "gpu", "mps"):
        return cfg.accelerator, cfg.devices  # Fabric names others (tpu, ...) and checks them itself
    have = available("cuda" if kind == "gpu" else kind)
    if have == 0:
        raise ConfigError(f"accelerator: {cfg.accelerator!r} is not available on this machine; use cpu or auto")
    if cfg.devices > have:
        what = "CPU cores" if kind == "cpu" else f"{kind} devices"
        raise ConfigError(f"devices: {cfg.devices} (this machine has {have} {what}; expected at most {have} "
                          "processes per node)")
    return cfg.accelerator, cfg.devices


def threads_for(cfg: Any, world_size: int, on_cpu: bool, env: dict[str, str] | None = None) -> int | None:
    """Torch threads for each process: `threads` when set; else, for several processes sharing
    the CPU, the cores split between them, unless $OMP_NUM_THREADS says otherwise; else None
    (torch's own default, which already follows $OMP_NUM_THREADS)."""
    env = os.environ if env is None else env
    if cfg.threads is not None:
        return cfg.threads
    if world_size > 1 and on_cpu and not env.get("OMP_NUM_THREADS"):
        # Several processes on one machine share its cores; oversubscribed threads thrash.
        return max(1, (os.cpu_count() or 1) // world_size)
    return None
