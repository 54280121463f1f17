"""--device picks one device and --devices N is checked against what exists; --threads sets
torch's threads and the default follows $OMP_NUM_THREADS."""

from __future__ import annotations

import os
import time

import pytest
import torch

from cnnlab.cli import main
from cnnlab.errors import ConfigError
from cnnlab.settings import TrainConfig
from cnnlab.train import fit
from cnnlab.train.devices import fabric_devices, threads_for


def test_device_cpu_trains_and_is_recorded(tmp_path):
    r = fit(data="digits", model="mnist-tiny", device="cpu", threads=1, epochs=1, limit=100, quiet=True,
            project=tmp_path, report=False)
    assert r.config.device == "cpu" and r.config.threads == 1
    assert torch.get_num_threads() == 1  # set for the process that trained
    assert "device: cpu" in (r.run_dir / "config.yaml").read_text()


def test_an_unavailable_device_is_a_clear_error(tmp_path, capsys):
    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU: never there
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--data", "digits", "--device", missing, "--epochs", "1", "--project", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"device: '{missing}'" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # refused before a run folder was made
    with pytest.raises(ConfigError, match="cpu, cuda, cuda:N"):
        TrainConfig(device="gpu0")
    with pytest.raises(ConfigError, match="picks one device"):
        TrainConfig(device="cpu", devices=2)


def test_devices_are_capped_by_what_exists(tmp_path):
    """Issue 19 item 9: devices 100000 started DDP workers one by one; now it is refused at once."""
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"this machine has {os.cpu_count()} CPU cores"):
        fit(data="digits", accelerator="cpu", devices=100_000, epochs=1, quiet=True, project=tmp_path)
    assert time.perf_counter() - start < 30  # no worker was started
    assert fabric_devices(TrainConfig(accelerator="cpu", devices=1)) == ("cpu", 1)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="not available"):
            fabric_devices(TrainConfig(accelerator="cuda"))


def test_threads_default_follows_omp_num_threads():
    cfg = TrainConfig()
    assert threads_for(cfg, 1, True, env={}) is None  # torch's own default (which reads OMP_NUM_THREADS)
    assert threads_for(cfg, 2, True, env={}) == max(1, (os.cpu_count() or 1) // 2)  # DDP on CPU: cores split
    assert threads_for(cfg, 2, True, env={"OMP_NUM_THREADS": "1"}) is None  # the user's setting stands
    assert threads_for(TrainConfig(threads=3), 2, True, env={"OMP_NUM_THREADS": "1"}) == 3
