"""Short runs spend their time training: curves drawn at most every few seconds and once at the
end, and Lightning imported only when a run needs what Fabric adds (issue 22)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

import cnnlab
from cnnlab.run.writer import RunWriter
from cnnlab.train import fit
from cnnlab.train import loop
from cnnlab.train.config import merge_settings
from cnnlab.train.single_device import SingleDevice

QUICK = dict(data="digits", model="mnist-tiny", limit=300, batch_size=32, quiet=True, evaluate_test=False)


def _rows(n: int) -> list[dict]:
    return [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.5, "val_acc": 0.5}
            for e in range(1, n + 1)]


def test_curves_are_drawn_first_then_throttled_then_at_the_end(tmp_path, monkeypatch):
    writer = RunWriter(tmp_path, curves_every_s=3600)
    for n in range(1, 8):
        writer.write_history(_rows(n), best_epoch=1)
    assert writer.curves_drawn == 1  # the first epoch only: the next would be due in an hour
    first = (tmp_path / "curves.png").read_bytes()
    writer.write_history(_rows(7), best_epoch=6, final=True)
    assert writer.curves_drawn == 2 and (tmp_path / "curves.png").read_bytes() != first
    writer.write_history(_rows(7), best_epoch=6, final=True)
    assert writer.curves_drawn == 2  # already shows every row: not drawn again
    assert (tmp_path / "history.csv").read_text().count("\n") == 8  # the CSV is written every time

    every_time = RunWriter(tmp_path / "b", curves_every_s=0)
    (tmp_path / "b").mkdir()
    monkeypatch.setattr("cnnlab.run.writer.CURVES_SHARE", 0)
    for n in range(1, 4):
        every_time.write_history(_rows(n))
    assert every_time.curves_drawn == 3


def test_a_slow_drawing_waits_twenty_times_its_own_time(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("cnnlab.run.writer.time.monotonic", lambda: clock[0])
    monkeypatch.setattr(RunWriter, "_draw_curves", lambda self, h, b: (clock.__setitem__(0, clock[0] + 2.0),
                                                                      setattr(self, "curves_drawn", self.curves_drawn + 1),
                                                                      setattr(self, "_curves_rows", len(h))))
    writer = RunWriter(tmp_path, curves_every_s=10)
    writer.write_history(_rows(1))  # drawn; it took 2 s, so the next waits 40 s, not 10
    for n, advance in ((2, 15.0), (3, 15.0), (4, 15.0)):
        clock[0] += advance
        writer.write_history(_rows(n))
    assert writer.curves_drawn == 2  # at 100+2+45 ≥ 40 s after the first drawing ended


def test_a_run_draws_its_curves_of_every_epoch_at_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr("cnnlab.run.writer.CURVES_EVERY_S", 3600.0)
    drawn = []
    real = RunWriter._draw_curves
    monkeypatch.setattr(RunWriter, "_draw_curves", lambda self, h, b: (drawn.append(len(h)), real(self, h, b)))
    r = fit(epochs=4, project=tmp_path, name="run", **QUICK)
    assert drawn == [1, 4]  # once after the first epoch, once at the end with all four
    assert (r.run_dir / "curves.png").stat().st_size > 1000


def test_one_cpu_process_at_32_bit_needs_no_lightning():
    cfg = merge_settings(None, {"accelerator": "cpu"})
    assert isinstance(loop.make_fabric(cfg), SingleDevice)
    for change in ({"precision": "bf16-mixed"}, {"devices": 2}, {"strategy": "ddp"}):
        fabric = loop.make_fabric(merge_settings(cfg, change))
        assert not isinstance(fabric, SingleDevice), change


def test_single_device_trains_exactly_as_fabric_does(tmp_path, monkeypatch):
    plain = fit(epochs=2, project=tmp_path, name="plain", augment="light", grad_clip=1.0, **QUICK)
    monkeypatch.setattr(loop, "needs_lightning", lambda *a: True)
    fabric = fit(epochs=2, project=tmp_path, name="fabric", augment="light", grad_clip=1.0, **QUICK)
    keys = ("train_loss", "train_acc", "val_loss", "val_acc")
    assert [[h[k] for k in keys] for h in plain.history] == [[h[k] for k in keys] for h in fabric.history]
    for (name, p), q in zip(plain.model.state_dict().items(), fabric.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_a_short_cpu_run_without_report_imports_neither_lightning_nor_torchmetrics(tmp_path):
    """`cnnlab train --no-report` on one CPU: Lightning (~6 s) and torchmetrics (3–11 s, it pulls
    torchvision's models and torch._dynamo) are not needed, so not imported."""
    code = ("import sys, json; from cnnlab.pipeline import train_and_report; "
            f"r = train_and_report(data='digits', model='mnist-tiny', limit=200, epochs=1, quiet=True, report=False, "
            f"project={str(tmp_path)!r}); "
            "print(json.dumps({'heavy': sorted({m.split('.')[0] for m in sys.modules} & "
            "{'lightning', 'lightning_fabric', 'torchmetrics'}), 'dir': str(r.run_dir)}))")
    src = str(Path(cnnlab.__file__).parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": src})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert (Path(result["dir"]) / "metrics.json").exists()


def test_single_device_has_every_fabric_call_the_loop_makes():
    """A new `fabric.X` in the loop needs its `SingleDevice.X` (or runs only under Lightning)."""
    import re

    source = Path(loop.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r"\bfabric\.([a-z_]+)", source))
    assert {"setup", "backward", "all_reduce", "autocast"} <= used
    missing = sorted(name for name in used if not hasattr(SingleDevice("cpu"), name))
    assert missing == []
