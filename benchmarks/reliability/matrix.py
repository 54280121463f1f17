"""Rows of the reliability matrix. Each tries its cases and reports how many behaved as documented.

A case "behaves" when the documented outcome happens and nothing else does: the run resumes to
the same weights, the previous file survives byte for byte, the error names the file or field
and the exit code is 2, no code from an untrusted file runs, nothing is written where it must not.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from unittest import mock

import numpy as np
import torch

from cnnlab.errors import CnnlabError


@dataclass
class Row:
    """One row of the matrix: what was tried, how many cases behaved, in words."""

    name: str
    cases: int
    passed: int
    outcome: str
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.cases > 0 and self.passed == self.cases


class Cases:
    """Collects case results: `check(name, fn)` runs fn, which returns None on success or a reason."""

    def __init__(self) -> None:
        self.tried = 0
        self.failures: list[str] = []

    def check(self, name: str, fn: Callable[[], str | None]) -> None:
        self.tried += 1
        try:
            reason = fn()
        except Exception as e:  # a crash is a failed case, reported, not a crashed matrix
            reason = f"raised {type(e).__name__}: {e}"
        if reason:
            self.failures.append(f"{name}: {reason}")

    @property
    def passed(self) -> int:
        return self.tried - len(self.failures)

    def row(self, name: str, outcome: str, start: float) -> Row:
        return Row(name, self.tried, self.passed, outcome.format(passed=self.passed, tried=self.tried),
                   self.failures, time.perf_counter() - start)


def _env() -> dict[str, str]:
    """The child's environment: this cnnlab, and this harness (for `-m reliability.faulty_train`)."""
    import cnnlab

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(cnnlab.__file__).resolve().parents[1])
    harness = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, harness, env.get("PYTHONPATH", "")])
    return env


def run_cli_inprocess(args: list[str]) -> tuple[int, str]:
    """`cnnlab ARGS` in this process: (exit code, stderr text)."""
    from cnnlab.cli import main

    err, out = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(args)
        except SystemExit as e:
            code = int(e.code or 0)
    return code, err.getvalue()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- 1. interruptions -----------------------------------------------------------------------

TRAIN_ARGS = ["train", "--data", "digits", "--model", "mnist-tiny", "--batch-size", "32", "--epochs", "3",
              "--augment", "light", "--seed", "3", "--limit", "600", "-q"]


def _faulty(point: str, n: int, run: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "reliability.faulty_train", point, str(n), "--", *TRAIN_ARGS,
           "--project", str(run.parent), "--name", run.name]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)


def _resume(run: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnlab", "train", "--resume", str(run), "-q"], env=_env(),
                          capture_output=True, text=True, timeout=600)


def interruptions(workdir: Path, n: int = 20, seed: int = 0, workers: int = 2) -> Row:
    """SIGKILL at `n` random points (mid-batch, mid-evaluation, mid-checkpoint write), then resume:
    each resume must succeed and end with the weights and history of an uninterrupted run."""
    from cnnlab.run.checkpoint import load_checkpoint
    from cnnlab.run.history import read_history

    start = time.perf_counter()
    workdir = Path(workdir)
    ref_run = workdir / "reference"
    counts_file = workdir / "counts.json"
    env_counts = {"CNNLAB_FAULT_COUNTS": str(counts_file)}
    with mock.patch.dict(os.environ, env_counts):
        ref = _faulty("batch", 0, ref_run)  # never fires; records how many of each point there are
    if ref.returncode != 0:
        return Row("Interruptions (SIGKILL, resume)", 0, 0, f"reference run failed: {ref.stderr[-400:]}")
    counts = json.loads(counts_file.read_text())
    ref_weights = load_checkpoint(ref_run / "last.pt")["model"]
    ref_history = [round(h["val_loss"], 6) for h in read_history(ref_run / "history.csv")]

    # Kill only after epoch 1's checkpoints exist: before that there is nothing to resume from,
    # and a restart from scratch is the (trivially correct) answer.
    first = counts["after_first_checkpoint"]
    rng = random.Random(seed)
    points = ["batch", "eval", "checkpoint"]
    plan = []
    for i in range(n):
        point = points[i % 3]
        plan.append((i, point, rng.randint(first[point] + 1, counts[point])))

    def trial(item: tuple[int, str, int]) -> str | None:
        i, point, k = item
        run = workdir / f"kill{i:02d}-{point}{k}"
        killed = _faulty(point, k, run)
        if killed.returncode != -signal.SIGKILL:
            return f"{point} #{k}: expected SIGKILL, exit {killed.returncode}: {killed.stderr[-300:]}"
        try:
            saved = load_checkpoint(run / "last.pt")
        except CnnlabError as e:
            return f"{point} #{k}: no valid checkpoint after the kill ({e})"
        resumed = _resume(run)
        if resumed.returncode != 0:
            return f"{point} #{k}: resume failed (exit {resumed.returncode}): {resumed.stderr[-300:]}"
        # continued at the checkpoint's epoch + 1: the epochs before are the saved rows, timings
        # included, which a rerun from scratch would have measured anew
        if load_checkpoint(run / "last.pt")["history"][: saved["epoch"]] != saved["history"]:
            return f"{point} #{k}: the resumed run retrained epochs 1–{saved['epoch']} instead of continuing"
        got = load_checkpoint(run / "last.pt")["model"]
        if not all(torch.equal(got[key], ref_weights[key]) for key in ref_weights):
            return f"{point} #{k}: final weights differ from the uninterrupted run"
        if [round(h["val_loss"], 6) for h in read_history(run / "history.csv")] != ref_history:
            return f"{point} #{k}: history differs from the uninterrupted run"
        return None

    cases = Cases()
    with ThreadPoolExecutor(workers) as pool:
        for item, reason in zip(plan, pool.map(trial, plan)):
            cases.check(f"kill {item[0]}", lambda r=reason: r)
    kinds = ", ".join(f"{sum(1 for _, p, _ in plan if p == q)} {q}" for q in points)
    return cases.row("Interruptions (SIGKILL at random points, then --resume)",
                     "{passed}/{tried} resumes identical to an uninterrupted run (kills: " + kinds + ")", start)


# --- 2. disk faults ---------------------------------------------------------------------------

def disk_faults(workdir: Path) -> Row:
    """Checkpoint and file writes that fail (no space, read-only, permission) keep the old file."""
    from cnnlab.atomic import WriteError, atomic_write_text
    from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint
    from cnnlab.train import fit

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    target = workdir / "ckpt" / "last.pt"
    save_checkpoint({"epoch": 1, "model": {"w": torch.ones(3)}}, target)
    before = target.read_bytes()

    def failing(stage: str, code: int) -> Callable[[], str | None]:
        def case() -> str | None:
            boom = OSError(code, os.strerror(code))
            patches = {"mkstemp": mock.patch("cnnlab.atomic.tempfile.mkstemp", side_effect=boom),
                       "fsync": mock.patch("cnnlab.atomic.os.fsync", side_effect=boom),
                       "replace": mock.patch("cnnlab.atomic.os.replace", side_effect=boom)}
            if stage == "write":  # the disk fills up halfway through the data

                def half_then_full(obj, f, *a, **kw):
                    f.write(b"x" * 100)
                    raise boom
                patcher = mock.patch("cnnlab.run.checkpoint.torch.save", side_effect=half_then_full)
            else:
                patcher = patches[stage]
            try:
                with patcher:
                    save_checkpoint({"epoch": 2, "model": {"w": torch.zeros(3)}}, target)
                return "no error raised"
            except WriteError as e:
                if str(target) not in str(e):
                    return f"error does not name the file: {e}"
            if target.read_bytes() != before:
                return "the previous checkpoint changed"
            leftovers = [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")]
            return f"temporary files left: {leftovers}" if leftovers else None
        return case

    for stage in ("mkstemp", "write", "fsync", "replace"):
        for code in (errno.ENOSPC, errno.EROFS, errno.EACCES):
            cases.check(f"checkpoint {stage} {errno.errorcode[code]}", failing(stage, code))

    def text_file_case() -> str | None:
        path = workdir / "report" / "report.html"
        atomic_write_text(path, "old report")
        with mock.patch("cnnlab.atomic.os.replace", side_effect=OSError(errno.ENOSPC, "No space left on device")):
            try:
                atomic_write_text(path, "new report")
                return "no error raised"
            except WriteError:
                pass
        return None if path.read_text() == "old report" else "the previous report changed"

    cases.check("report write ENOSPC", text_file_case)

    def training_case() -> str | None:
        # The disk fills at epoch 2's checkpoint: the run stops with a clear error, epoch 1 survives.
        real = os.replace
        calls = {"n": 0}

        def replace(src, dst, *a, **kw):
            if str(dst).endswith(".pt"):
                calls["n"] += 1
                if calls["n"] == 3:  # epoch 1 writes best.pt and last.pt; this is epoch 2's first
                    raise OSError(errno.ENOSPC, "No space left on device")
            return real(src, dst, *a, **kw)

        with mock.patch("cnnlab.atomic.os.replace", side_effect=replace):
            try:
                fit(data="digits", model="mnist-tiny", epochs=3, limit=300, project=workdir / "runs", name="full",
                    quiet=True)
                return "training did not stop"
            except WriteError as e:
                if "last.pt" not in str(e) and "best.pt" not in str(e):
                    return f"error does not name the checkpoint: {e}"
        ckpt = load_checkpoint(workdir / "runs" / "full" / "last.pt")
        return None if ckpt["epoch"] == 1 else f"last.pt holds epoch {ckpt['epoch']}, expected 1"

    cases.check("training, disk full at epoch 2", training_case)
    return cases.row("Disk faults (no space, read-only, permission denied)",
                     "{passed}/{tried} failed writes kept the previous file intact, clear error", start)


# --- 3. bad images -----------------------------------------------------------------------------

def bad_images(workdir: Path, fuzz_cases: int = 500, seed: int = 0) -> Row:
    """The bad-image corpus through scanning, prediction and decoding; random corruptions fuzzed."""
    from cnnlab.data import load_data
    from cnnlab.data.images import ImageLoadError, decode_image
    from reliability.image_corpus import jpeg_bytes, make_class_folder, write_bad_images

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    folder = make_class_folder(workdir / "imgs", per_class=6)
    expected = write_bad_images(folder / "cats")

    def scan_case() -> str | None:
        data = load_data(str(folder), split=(0.5, 0.25, 0.25))
        skipped = {Path(s.path).name for s in data.skipped}
        wrong = [n for n, want in expected.items() if n != "notes.txt" and (n in skipped) != (want == "skip")]
        return f"unexpected outcomes: {wrong}" if wrong else None

    cases.check("folder scan", scan_case)

    for name, want in expected.items():
        if name == "notes.txt":
            continue  # not an image extension: never picked up

        def decode_case(name=name, want=want) -> str | None:
            try:
                decode_image((folder / "cats" / name).read_bytes(), folder / "cats" / name)
                return None if want == "load" else "decoded, expected a clear error"
            except ImageLoadError as e:
                if want == "load":
                    return f"refused a loadable image: {e}"
                return None if name in str(e) else f"error does not name the file: {e}"

        cases.check(f"decode {name}", decode_case)

    # Fuzz: random truncations, byte flips and splices of valid PNG and JPEG files. Each either
    # decodes to a valid image or raises ImageLoadError; anything else is a failure.
    rng = np.random.default_rng(seed)
    png = io.BytesIO()
    from PIL import Image
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(png, "PNG")
    seeds = [png.getvalue(), jpeg_bytes(24)]
    fuzz_failures: list[str] = []
    for i in range(fuzz_cases):
        data = bytearray(seeds[i % 2])
        kind = rng.integers(0, 3)
        if kind == 0:
            data = data[: rng.integers(0, len(data))]
        elif kind == 1:
            for _ in range(rng.integers(1, 20)):
                data[rng.integers(0, len(data))] = rng.integers(0, 256)
        else:
            a = rng.integers(0, len(data))
            data = data[:a] + bytes(rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8)) + data[a:]
        try:
            img = decode_image(bytes(data), f"fuzz{i}")
            if img.mode not in ("L", "RGB") or min(img.size) < 1:
                fuzz_failures.append(f"fuzz{i}: mode {img.mode} size {img.size}")
        except ImageLoadError:
            pass
        except Exception as e:
            fuzz_failures.append(f"fuzz{i}: {type(e).__name__}: {e}")
    cases.check(f"fuzz ({fuzz_cases} corrupted files)",
                lambda: "; ".join(fuzz_failures[:3]) if fuzz_failures else None)
    return cases.row("Bad images (corpus and fuzzing)",
                     "{passed}/{tried} cases as documented (skipped with the reason, or loaded); "
                     f"{fuzz_cases} fuzzed files never crashed", start)


# --- 4. bad configs and arguments -----------------------------------------------------------------

def bad_configs(workdir: Path) -> Row:
    """Unknown keys, wrong types, out-of-range values, missing data: exit 2, the field named,
    nothing written."""
    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()

    def yaml_file(name: str, text: str) -> str:
        path = workdir / name
        path.write_text(text)
        return str(path)

    project = workdir / "runs"
    base = ["train", "--data", "digits", "--model", "mnist-tiny", "--epochs", "1", "--project", str(project)]
    table: list[tuple[str, list[str], str]] = [
        ("unknown config key", ["train", "--config", yaml_file("a.yaml", "data:\n  source: digits\nepocs: 3\n"),
                                "--project", str(project)], "epocs"),
        ("wrong type in config", ["train", "--config", yaml_file("b.yaml", "data:\n  source: digits\nepochs: three\n"),
                                  "--project", str(project)], "epochs"),
        ("negative epochs", [*base[:-2], "--epochs", "-1", "--project", str(project)], "epochs"),
        ("zero batch size", [*base, "--batch-size", "0"], "batch_size"),
        ("negative learning rate", [*base, "--lr", "-0.1"], "lr"),
        ("unknown model", ["train", "--data", "digits", "--model", "resnet19", "--project", str(project)],
         "resnet18"),
        ("unknown optimizer", [*base, "--optimizer", "adamm"], "adam"),
        ("missing data folder", ["train", "--data", str(workdir / "nope"), "--project", str(project)], "nope"),
        ("missing MNIST root", ["train", "--data", "mnist", "--data-root", str(workdir / "no-root"),
                                "--project", str(project)], "no-root"),
        ("config file missing", ["train", "--config", str(workdir / "missing.yaml"), "--project", str(project)],
         "missing.yaml"),
        ("config not a mapping", ["train", "--config", yaml_file("c.yaml", "- 1\n- 2\n"),
                                  "--project", str(project)], "c.yaml"),
    ]
    for name, args, must_mention in table:
        def case(args=args, must_mention=must_mention) -> str | None:
            code, err = run_cli_inprocess(args)
            if code != 2:
                return f"exit code {code}, expected 2 ({err.strip()[-200:]})"
            if must_mention not in err:
                return f"message does not mention {must_mention!r}: {err.strip()[-200:]}"
            written = _files(project)
            return f"wrote {written}" if written else None

        cases.check(name, case)
    def class_mismatch() -> str | None:
        # A digits model (10 classes) evaluated on a two-class folder: refused, nothing written.
        from cnnlab.train import fit
        from reliability.image_corpus import make_class_folder

        run = fit(data="digits", model="mnist-tiny", epochs=1, limit=200, project=workdir / "trained",
                  name="digits", quiet=True, report=False).run_dir
        folder = workdir / "two-classes"
        for split in ("train", "val", "test"):
            make_class_folder(folder / split, per_class=4)
        before = _files(run)
        code, err = run_cli_inprocess(["evaluate", str(run), "--data", str(folder)])
        if code != 2 or "cats" not in err:
            return f"exit {code}: {err.strip()[-200:]}"
        return None if _files(run) == before else "files were written into the run folder"

    cases.check("class count of data vs checkpoint", class_mismatch)
    return cases.row("Bad configs and arguments",
                     "{passed}/{tried} refused with exit 2, the field named, nothing written", start)


# --- 5. numerics --------------------------------------------------------------------------------

def numerics(workdir: Path) -> Row:
    """A learning rate that explodes at epoch 2 stops the run cleanly, epoch 1's checkpoint kept.

    The explosion is injected (the optimizer's learning rate multiplied as epoch 2 starts), since
    no valid schedule raises the rate that far; a rate that diverges from the start is the CLI case.
    """
    from cnnlab.run.checkpoint import load_checkpoint
    from cnnlab.train import fit, loop
    from cnnlab.train.loop import NonFiniteLossError

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    real_epoch = loop.train_one_epoch
    # Factors large enough that one step overflows float32. With sgd ×1e8 (a rate of 1e6) the
    # outcome depended on which 400 digits `limit` picks: since the stratified subset, every ReLU
    # died and the loss stayed finite, so the run trained on instead of diverging.
    for optimizer, factor in (("sgd", 1e30), ("adam", 1e36)):
        def exploding(*args, factor=factor, **kwargs):
            optimizer_, epoch = args[4], args[7]
            if epoch == 2:
                for group in optimizer_.param_groups:
                    group["lr"] *= factor
            return real_epoch(*args, **kwargs)

        def case(optimizer=optimizer, exploding=exploding) -> str | None:
            name = f"diverge-{optimizer}"
            with mock.patch("cnnlab.train.loop.train_one_epoch", exploding):
                try:
                    fit(data="digits", model="mnist-tiny", epochs=4, limit=400, optimizer=optimizer, lr=0.01,
                        project=workdir, name=name, quiet=True)
                    return "the run finished; expected a non-finite loss"
                except NonFiniteLossError as e:
                    if "lower learning rate" not in str(e):
                        return f"message gives no advice: {e}"
            ckpt = load_checkpoint(workdir / name / "last.pt")
            if ckpt["epoch"] != 1:
                return f"last.pt holds epoch {ckpt['epoch']}, expected 1"
            finite = all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
            return None if finite else "the kept checkpoint holds non-finite weights"

        cases.check(f"{optimizer}, lr ×{factor:g} at epoch 2", case)

    def cli_case() -> str | None:
        code, err = run_cli_inprocess(["train", "--data", "digits", "--model", "mnist-tiny", "--epochs", "1",
                                       "--lr", "1e12", "--optimizer", "sgd", "--project", str(workdir),
                                       "--name", "cli-diverge"])
        return None if code == 2 and "loss became" in err else f"exit {code}: {err.strip()[-200:]}"

    cases.check("CLI, lr 1e12 from the start", cli_case)
    return cases.row("Numerics (diverging learning rate)",
                     "{passed}/{tried} stopped cleanly (exit 2) with the last good checkpoint kept", start)


# --- 6. untrusted files -------------------------------------------------------------------------

class _Payload:
    """Unpickling this runs `touch MARKER`: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def untrusted_files(workdir: Path) -> Row:
    """Malicious pickles, YAML tags that construct objects, path traversal: refused, nothing run."""
    from cnnlab.data.split import split_folder
    from cnnlab.train import load_model
    from reliability.image_corpus import make_class_folder

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    # Each case has its own marker file, so one case's payload cannot make another case fail.
    def pickle_case(where: str) -> Callable[[], str | None]:
        def case() -> str | None:
            marker = workdir / f"pwned-pickle-{where}"
            run = workdir / f"evil-{where}"
            run.mkdir(parents=True, exist_ok=True)
            payload = {"format": "cnnlab-checkpoint", "model": _Payload(marker), "architecture": {},
                       "class_names": ["a"], "preprocessing": {}}
            torch.save(payload, run / "last.pt")
            torch.save(payload, run / "best.pt")
            if where == "load_model":
                try:
                    load_model(run)
                    return "loaded"
                except CnnlabError as e:
                    err = str(e)
            else:
                # each verb reads the run's checkpoint: train --resume last.pt, evaluate/export best.pt
                args = {"resume": ["train", "--resume", str(run)], "evaluate": ["evaluate", str(run)],
                        "export": ["export", str(run), "--format", "torchscript"]}[where]
                code, err = run_cli_inprocess(args)
                if code != 2:
                    return f"exit {code}: {err.strip()[-200:]}"
            if marker.exists():
                return "the payload ran"
            # refused by the checkpoint loader's pickle check, not by something before it
            flat = " ".join(err.split())
            return None if "refused to load" in flat else f"refused for another reason: {flat[-200:]}"
        return case

    for where in ("load_model", "resume", "evaluate", "export"):
        cases.check(f"malicious pickle via {where}", pickle_case(where))

    for i, tag in enumerate(("!!python/object/apply:os.system", "!!python/object/new:os.system",
                             "!!python/name:os.system")):
        def yaml_case(tag=tag, i=i) -> str | None:
            marker = workdir / f"pwned-yaml-{i}"
            cfg = workdir / f"evil-{i}.yaml"
            cfg.write_text(f"data:\n  source: digits\nmodel: {tag} ['touch {marker}']\n")
            code, err = run_cli_inprocess(["train", "--config", str(cfg), "--project", str(workdir / "yruns")])
            if code != 2:
                return f"exit {code}"
            if marker.exists():
                return "the payload ran"
            if cfg.name not in err:
                return f"exit 2 without naming {cfg.name}: {err.strip()[-200:]}"
            return f"wrote {_files(workdir / 'yruns')}" if _files(workdir / "yruns") else None

        cases.check(f"YAML tag {tag}", yaml_case)

    def traversal_case(kind: str) -> Callable[[], str | None]:
        def case() -> str | None:
            src = make_class_folder(workdir / f"src-{kind}", per_class=4)
            dst = workdir / f"dst-{kind}"
            outside = workdir / f"outside-{kind}"
            outside.mkdir(exist_ok=True)
            if kind == "symlinked split folder":
                dst.mkdir(exist_ok=True)
                (dst / "train").symlink_to(outside, target_is_directory=True)
            elif kind == "unsafe class name":
                (src / "cats").rename(src / "cats;rm -rf")
            elif kind == "symlinked class folder":
                dst.mkdir(exist_ok=True)
                (dst / "val").mkdir()
                (dst / "val" / "dogs").symlink_to(outside, target_is_directory=True)
            try:
                split_folder(src, dst, per_class=(2, 1, 1))
                refused = False
            except CnnlabError:
                refused = True
            if _files(outside):
                return f"wrote outside the destination: {_files(outside)}"
            return None if refused else "accepted; expected a refusal"
        return case

    for kind in ("symlinked split folder", "symlinked class folder", "unsafe class name"):
        cases.check(f"data split, {kind}", traversal_case(kind))
    return cases.row("Untrusted files (pickles, YAML tags, path traversal)",
                     "{passed}/{tried} refused, nothing executed, nothing written outside", start)


# --- the table ------------------------------------------------------------------------------------

def webapp(workdir: Path) -> Row:
    """The web-app row (reliability.webapp), imported when run."""
    from reliability.webapp import webapp_abuse

    return webapp_abuse(workdir)


def _serve_row(name: str) -> Callable[..., Row]:
    """A row of reliability.serve_hardening (issue 19's web-app groups), imported when run."""
    def row(workdir: Path) -> Row:
        from reliability import serve_hardening

        return getattr(serve_hardening, name)(workdir)
    return row


def bombs(workdir: Path) -> Row:
    """Alias bombs, deep nesting, FIFOs and devices (reliability.files_rows)."""
    from reliability.files_rows import bombs_and_special_files

    return bombs_and_special_files(workdir)


def malformed(workdir: Path, examples: int = 1000) -> Row:
    """Malformed checkpoints, sidecars and run files, with fuzzing (reliability.files_rows)."""
    from reliability.files_rows import malformed_files

    return malformed_files(workdir, examples)


def fuzz_configs(workdir: Path, examples: int = 1000) -> Row:
    """Hypothesis-generated config files (reliability.files_rows)."""
    from reliability.files_rows import fuzzed_configs

    return fuzzed_configs(workdir, examples)


def wrong(workdir: Path) -> Row:
    """NaN weights, linked class folders, resume safety (reliability.files_rows)."""
    from reliability.files_rows import wrong_results

    return wrong_results(workdir)


ROWS: dict[str, Callable[..., Row]] = {
    "interruptions": interruptions,
    "disk": disk_faults,
    "images": bad_images,
    "configs": bad_configs,
    "numerics": numerics,
    "untrusted": untrusted_files,
    "webapp": webapp,
    "disclosure": _serve_row("disclosure_injection"),
    "slow-clients": _serve_row("slow_clients"),
    "large-images": _serve_row("large_images"),
    "bombs": bombs,
    "malformed": malformed,
    "fuzzconfigs": fuzz_configs,
    "wrong": wrong,
}


def run_matrix(rows: list[str] | None = None, workdir: str | Path | None = None, kills: int = 20,
               fuzz_cases: int = 500, fuzz_examples: int = 1000, extra: dict[str, Callable[..., Row]] | None = None) -> list[Row]:
    """Run the chosen rows (default: all) in a scratch folder and return their results."""
    table = dict(ROWS, **(extra or {}))
    chosen = rows or list(table)
    unknown = [r for r in chosen if r not in table]
    if unknown:
        raise CnnlabError(f"rows: unknown {unknown}; choose from {list(table)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-reliability-") as tmp:
        base = Path(workdir or tmp)
        for name in chosen:
            folder = base / name
            folder.mkdir(parents=True, exist_ok=True)
            kwargs = ({"n": kills} if name == "interruptions" else {"fuzz_cases": fuzz_cases} if name == "images"
                      else {"examples": fuzz_examples} if name in ("malformed", "fuzzconfigs") else {})
            results.append(table[name](folder, **kwargs))
    return results


def format_table(rows: list[Row]) -> str:
    """The matrix as a Markdown table (for the terminal and the README)."""
    lines = ["| row | cases | outcome | time |", "| --- | ---: | --- | ---: |"]
    for r in rows:
        mark = "pass" if r.ok else "FAIL"
        lines.append(f"| {r.name} | {r.cases} | {mark}: {r.outcome} | {r.seconds:.0f} s |")
    for r in rows:
        for f in r.failures:
            lines.append(f"- {r.name}: {f}")
    return "\n".join(lines)
