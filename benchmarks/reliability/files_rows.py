"""Rows of the reliability matrix for issue 19's files and runs: bombs and special files,
malformed files (with hypothesis fuzzing), and wrong results (NaN weights, linked class folders,
resume against an edited config or a live run)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch

from cnnlab.errors import CnnlabError
from reliability.matrix import Cases, Row, _env, run_cli_inprocess


def _refused(fn: Callable[[], Any], must: str = "", seconds: float = 60) -> str | None:
    """None when fn raises a one-line CnnlabError (mentioning `must`) within `seconds`."""
    out: dict[str, Any] = {}

    def work():
        try:
            fn()
            out["ok"] = True
        except Exception as e:  # noqa: BLE001 - recorded and judged below
            out["error"] = e

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        return f"still running after {seconds:.0f} s"
    e = out.get("error")
    if e is None:
        return "accepted; expected a refusal"
    if not isinstance(e, CnnlabError):
        return f"{type(e).__name__}: {str(e)[:160]}"
    return None if must in str(e) and "\n" not in str(e).strip() else f"message: {str(e)[:160]}"


def _base(workdir: Path) -> tuple[Path, dict]:
    from cnnlab.train import fit

    run = workdir / "base"
    if not (run / "best.pt").is_file():
        fit(data="digits", model="mnist-tiny", epochs=2, limit=200, project=workdir, name="base", quiet=True,
            report=False, evaluate_test=False)
    return run, torch.load(run / "best.pt", weights_only=True)


def _bomb(levels: int) -> list:
    x: list = [1]
    for _ in range(levels):
        x = [x, x]
    return x


def bombs_and_special_files(workdir: Path) -> Row:
    """Alias and shared-reference bombs, deep nesting, FIFOs and devices: refused in seconds."""
    from cnnlab.data.folders import scan_folder
    from cnnlab.run.checkpoint import load_model
    from cnnlab.train.config import load_config
    from reliability.image_corpus import make_class_folder

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    _, state = _base(workdir)

    def config(name: str, text: str, must: str) -> None:
        path = workdir / f"{name}.yaml"
        path.write_text(text)
        cases.check(f"config: {name}", lambda: _refused(lambda: load_config(path), must))

    bomb = "data: {source: digits}\nmodel_kwargs:\n  x0: &a0 [1]\n" + "".join(
        f"  x{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 41))
    config("alias bomb (901 bytes, 2**40 values)", bomb, "expands")
    config("self-referencing alias", "data: {source: digits}\nmodel_kwargs: &a {x: [*a]}\n", "itself")
    config("5,000 levels of nesting", "epochs: " + "[" * 5000 + "]" * 5000 + "\n", "nested")

    def checkpoint(name: str, value: Any, must: str) -> None:
        folder = workdir / f"ckpt-{len(cases.failures)}-{cases.tried}"
        folder.mkdir()
        s = copy.deepcopy(state)
        s["architecture"]["kwargs"] = {"x": value}
        torch.save(s, folder / "best.pt")
        cases.check(f"checkpoint: {name}", lambda: _refused(lambda: load_model(folder), must))

    checkpoint("shared-reference bomb in kwargs", _bomb(24), "expands")
    checkpoint("40-level shared bomb", _bomb(40), "nested")
    self_ref: list = []
    self_ref.append(self_ref)
    checkpoint("self-referencing list", self_ref, "itself")

    fifo = workdir / "fifo.yaml"
    os.mkfifo(fifo)
    cases.check("config file that is a FIFO", lambda: _refused(lambda: load_config(fifo), "FIFO"))
    fifo_ckpt = workdir / "fifo.pt"
    os.mkfifo(fifo_ckpt)
    cases.check("checkpoint that is a FIFO", lambda: _refused(lambda: load_model(fifo_ckpt), "regular file"))

    def folder_case(kind: str) -> str | None:
        root = make_class_folder(workdir / f"pets-{kind}", per_class=4)
        if kind == "fifo":
            os.mkfifo(root / "cats" / "pipe.png")
        else:
            (root / "dogs" / "zero.png").symlink_to("/dev/zero")
        out: dict = {}
        t = threading.Thread(target=lambda: out.setdefault("scan", scan_folder(root)), daemon=True)
        t.start()
        t.join(60)
        if t.is_alive():
            return "the scan hangs"
        skipped = [s.reason for s in out["scan"].skipped]
        return None if any("regular file" in r for r in skipped) else f"not skipped: {skipped}"

    cases.check("image folder: FIFO named pipe.png", lambda: folder_case("fifo"))
    cases.check("image folder: zero.png -> /dev/zero", lambda: folder_case("zero"))
    return cases.row("Bombs and special files",
                     "{passed}/{tried} refused or skipped with the reason, in seconds, without growing memory", start)


def malformed_files(workdir: Path, examples: int = 1000) -> Row:
    """Malformed checkpoints, ONNX sidecars and run files: exit 2 with one line; plus hypothesis
    fuzzing of checkpoints and sidecars (`examples` each)."""
    from cnnlab.run.checkpoint import load_model
    from reliability.fuzz_files import run_fuzz

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    run, state = _base(workdir)

    mutations: dict[str, Callable[[dict], Any]] = {
        "preprocessing {}": lambda s: s.__setitem__("preprocessing", {}),
        "preprocessing 'x'": lambda s: s.__setitem__("preprocessing", "x"),
        "num_classes 10**12": lambda s: s["architecture"].__setitem__("num_classes", 10**12),
        "input_size 10**6": lambda s: s["preprocessing"].__setitem__("input_size", [10**6, 10**6]),
        "timm checkpoint_path=/etc/passwd": lambda s: s.__setitem__("architecture", {
            "name": "timm:resnet18", "num_classes": 10, "in_channels": 1, "input_size": [28, 28],
            "kwargs": {"checkpoint_path": "/etc/passwd"}}),
        "class names not a list": lambda s: s.__setitem__("class_names", 5),
        "weights not tensors": lambda s: s.__setitem__("model", [1]),
    }
    for name, mutate in mutations.items():
        def case(mutate=mutate, name=name) -> str | None:
            folder = workdir / ("m-" + "".join(c if c.isalnum() else "_" for c in name))
            folder.mkdir(exist_ok=True)
            s = copy.deepcopy(state)
            mutate(s)
            torch.save(s, folder / "best.pt")
            return _refused(lambda: load_model(folder), "best.pt")

        cases.check(f"checkpoint: {name}", case)
    for name, content in (("0 bytes", None), ("link to /etc/passwd", "/etc/passwd")):
        def file_case(content=content, name=name) -> str | None:
            folder = workdir / ("f-" + name.replace(" ", "_").replace("/", "_"))
            folder.mkdir(exist_ok=True)
            if content is None:
                (folder / "best.pt").write_bytes(b"")
            else:
                (folder / "best.pt").symlink_to(content)
            return _refused(lambda: load_model(folder), "not a readable checkpoint")

        cases.check(f"checkpoint: {name}", file_case)

    for name, content in (("history.csv", b"epoch,train_loss\n1,abc\n"), ("metrics.json", b'{"test_acc": 0.9')):
        def report_case(name=name, content=content) -> str | None:
            copy_ = Path(shutil.copytree(run, workdir / f"garbled-{name}"))
            (copy_ / name).write_bytes(content)
            code, err = run_cli_inprocess(["report", str(copy_)])
            return None if code == 2 and name in err and "Traceback" not in err else f"exit {code}: {err[-160:]}"

        cases.check(f"report: garbled {name}", report_case)

    fuzzed = []
    for door in ("checkpoints", "sidecars"):
        result = run_fuzz(door, workdir / f"fuzz-{door}", examples=examples)
        fuzzed.append(result)
        cases.tried += result.tried
        cases.failures += [f"fuzz {door}: {f}" for f in result.failures]
        cases.failures += ["…"] * max(0, result.tried - result.held - len(result.failures))
    detail = ", ".join(f"{r.tried} fuzzed {r.door} ({r.accepted} accepted, {r.seconds:.0f} s)" for r in fuzzed)
    return cases.row("Malformed files (checkpoints, ONNX sidecars, run files)",
                     "{passed}/{tried} loaded or refused with exit 2 and one line; " + detail, start)


def fuzzed_configs(workdir: Path, examples: int = 1000) -> Row:
    """Hypothesis-generated config files: accepted or refused in one line."""
    from reliability.fuzz_files import run_fuzz

    start = time.perf_counter()
    cases = Cases()
    result = run_fuzz("configs", Path(workdir) / "fuzz-configs", examples=examples)
    cases.tried = result.tried
    cases.failures = list(result.failures) + ["…"] * max(0, result.tried - result.held - len(result.failures))
    return cases.row("Bad configs, fuzzed (hypothesis)",
                     "{passed}/{tried} generated configs accepted or refused with exit 2 and one line "
                     f"({result.accepted} accepted)", start)


def wrong_results(workdir: Path) -> Row:
    """Inputs that once gave a wrong answer silently: NaN/inf weights, a class folder linked to
    '.', --resume over an edited config, a second trainer in a live run, resume of a finished run."""
    from cnnlab.data.folders import scan_folder
    from cnnlab.run.checkpoint import load_model
    from cnnlab.train import fit
    from reliability.image_corpus import make_class_folder

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    run, state = _base(workdir)

    for name, value in (("NaN", float("nan")), ("inf", float("inf"))):
        def weights_case(value=value, name=name) -> str | None:
            folder = workdir / f"w-{name}"
            folder.mkdir(exist_ok=True)
            s = copy.deepcopy(state)
            next(iter(s["model"].values())).view(-1)[0] = value
            torch.save(s, folder / "best.pt")
            return _refused(lambda: load_model(folder), "NaN or infinite")

        cases.check(f"{name} weights refused on load", weights_case)

    def linked_class() -> str | None:
        root = make_class_folder(workdir / "pets-link", per_class=4)
        (root / "birds").symlink_to(".", target_is_directory=True)
        return _refused(lambda: scan_folder(root), "birds")

    cases.check("class folder linked to '.'", linked_class)

    def edited_config() -> str | None:
        copy_ = Path(shutil.copytree(run, workdir / "edited"))
        text = (copy_ / "config.yaml").read_text().replace("model: mnist-tiny", "model: keras-mnist")
        (copy_ / "config.yaml").write_text(text)
        problem = _refused(lambda: fit(resume=copy_, quiet=True), "keras-mnist")
        return problem or (None if (copy_ / "config.yaml").read_text() == text else "config.yaml was rewritten")

    cases.check("--resume over an edited config.yaml", edited_config)

    def finished() -> str | None:
        copy_ = Path(shutil.copytree(run, workdir / "finished"))
        stamps = {p.name: p.stat().st_mtime_ns for p in copy_.iterdir()}
        code, err = run_cli_inprocess(["train", "--resume", str(copy_), "-q"])
        same = {p.name: p.stat().st_mtime_ns for p in copy_.iterdir()} == stamps
        return None if code == 0 and same else f"exit {code}, files unchanged: {same}"

    cases.check("--resume of a finished run changes nothing", finished)

    def live_run() -> str | None:
        copy_ = Path(shutil.copytree(run, workdir / "live"))
        proc = subprocess.Popen([sys.executable, "-m", "cnnlab", "train", "--resume", str(copy_), "--epochs", "400",
                                 "-q"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 120
            while not (copy_ / ".train.lock").exists() and time.time() < deadline and proc.poll() is None:
                time.sleep(0.2)
            return _refused(lambda: fit(resume=copy_, epochs=400, quiet=True), "another trainer")
        finally:
            proc.kill()
            proc.wait()

    cases.check("a second trainer on a live run", live_run)

    def before_first_checkpoint() -> str | None:
        copy_ = Path(shutil.copytree(run, workdir / "killed-early"))
        for name in ("best.pt", "last.pt", "history.csv", "metrics.json"):
            (copy_ / name).unlink(missing_ok=True)
        result = fit(resume=copy_, quiet=True)
        return None if result.run_dir == copy_ and len(result.history) == 2 else f"history {len(result.history)}"

    cases.check("--resume before the first checkpoint", before_first_checkpoint)
    return cases.row("Wrong results (NaN weights, linked classes, resume)",
                     "{passed}/{tried} refused with the reason, or done right", start)
