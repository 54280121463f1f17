"""Training as a user runs it: the CLI in a subprocess, killed, interrupted, and on 2 processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.run.checkpoint import load_checkpoint
from cnnlab.run.history import read_history
from cnnlab.train import fit

SRC = Path(__file__).resolve().parents[2] / "src"
ARGS = ["--data", "digits", "--model", "mnist-tutorial", "--batch-size", "32", "--augment", "light",
        "--limit", "1200", "--seed", "3"]


def cli(args, **kw) -> subprocess.Popen:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "cnnlab", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def wait_for_epochs(run: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if (run / "history.csv").is_file() and len(read_history(run / "history.csv")) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early:\n{proc.stdout.read()}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint in time")


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    reference = fit(data="digits", model="mnist-tutorial", batch_size=32, augment="light", limit=1200, seed=3,
                    epochs=4, project=tmp_path, name="ref", quiet=True)
    proc = cli(["train", *ARGS, "--epochs", "4", "--project", str(tmp_path), "--name", "killed", "-q"])
    run = tmp_path / "killed"
    wait_for_epochs(run, 1, proc)
    time.sleep(0.3)  # somewhere inside the next epoch (or its checkpoint write)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(read_history(run / "history.csv"))
    assert done < 4, "the run finished before it was killed; make it longer"
    saved = load_checkpoint(run / "last.pt")
    assert saved["epoch"] >= done - 1  # a valid checkpoint survived
    resumed = cli(["train", "--resume", str(run), "-q"])
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    # It continued from the checkpoint: the epochs before it are the saved rows, their timings
    # included (a rerun from scratch would have measured new ones); only the rest was trained.
    after = load_checkpoint(run / "last.pt")
    assert after["epoch"] == 4 and after["history"][: saved["epoch"]] == saved["history"]
    got = read_history(run / "history.csv")
    assert [round(h["val_loss"], 5) for h in got] == [round(h["val_loss"], 5) for h in reference.history]
    final = load_checkpoint(run / "last.pt")["model"]
    ref = load_checkpoint(reference.run_dir / "last.pt")["model"]
    assert all(torch.equal(final[k], ref[k]) for k in ref)


def default_ctrl_c() -> None:
    # As in a terminal. A shell without job control starts background jobs with SIGINT ignored,
    # and a Python started that way keeps ignoring it, so this test would fail under `cmd &`.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_and_exits_cleanly(tmp_path):
    proc = cli(["train", *ARGS, "--epochs", "50", "--project", str(tmp_path), "--name", "intr"],
               preexec_fn=default_ctrl_c)
    run = tmp_path / "intr"
    wait_for_epochs(run, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "cnnlab train --resume" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted"
    assert load_checkpoint(run / "last.pt")["epoch"] == metrics["epochs_completed"] >= 1


def test_cli_train_bad_argument_exits_2_and_writes_nothing(tmp_path):
    proc = cli(["train", "--data", "digits", "--epochs", "0", "--project", str(tmp_path)])
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "epochs: 0" in out
    assert not any(tmp_path.iterdir())


def test_two_process_ddp_on_cpu(tmp_path):
    r = fit(data="digits", model="mnist-tiny", limit=256, batch_size=32, epochs=2, devices=2,
            accelerator="cpu", project=tmp_path, name="ddp", quiet=True)
    assert [i["rank"] for i in r.rank_info] == [0, 1]
    assert r.rank_info[0]["weights_checksum"] == r.rank_info[1]["weights_checksum"]  # ranks agree
    assert r.rank_info[0]["files_written"] > 0 and r.rank_info[1]["files_written"] == 0  # only rank 0 writes
    assert len(read_history(r.run_dir / "history.csv")) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"]


def test_two_process_ddp_prints_no_deprecation_warning(tmp_path):
    # Issue 21 item 13: each rank printed torch's "all_gather is deprecated" (Fabric's autograd all_gather).
    proc = cli(["train", "--data", "digits", "--model", "mnist-tiny", "--limit", "128", "--batch-size", "32",
                "--epochs", "1", "--devices", "2", "--accelerator", "cpu", "--no-report", "--project", str(tmp_path),
                "--name", "ddp"])
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "deprecated" not in out.lower(), out
