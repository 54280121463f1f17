"""Structure-aware fuzzing of the files cnnlab reads (issue 19), with hypothesis.

Three doors, each fed files that are valid at the container level and random inside:
  configs      YAML text: known setting names with random values (huge, NaN, NUL, nested),
               alias bombs, self-references, deep nesting, random bytes
  checkpoints  valid torch zips (torch.save) of a real checkpoint with random parts replaced by
               random plain values, shared-reference bombs, NaN tensors, wrong types
  sidecars     the JSON beside an ONNX export, mutated the same way
The property, for every example: the door either accepts the file (exit 0) or refuses it with a
`CnnlabError` (the CLI's exit 2: one line, no traceback); any other exception is a failure, and so
is resident memory growing by more than 1 GB.

    run_fuzz("checkpoints", folder, examples=1000)   # → FuzzResult(tried, held, failures, seconds)
"""

from __future__ import annotations

import copy
import json
import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from cnnlab.errors import CnnlabError

MEMORY_LIMIT = 1 << 30  # bytes of resident memory one example may add


# --- random values -----------------------------------------------------------------------------

_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from([0, 1, -1, 2**31, 2**63, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1e308]))
_texts = st.one_of(st.text(max_size=40), st.sampled_from(["", "\x00", "a/b", "..", "</script>", "x" * 300,
                                                          "/etc/passwd", "imagenet", "mnist-tiny", "digits"]))
_scalars = st.one_of(st.none(), st.booleans(), _numbers, _texts)
_plain = st.recursive(_scalars, lambda kids: st.one_of(st.lists(kids, max_size=6),
                                                       st.dictionaries(_texts, kids, max_size=6)), max_leaves=30)


def _shared_bomb(levels: int) -> list:
    x: list = [1]
    for _ in range(levels):
        x = [x, x]
    return x


def _self_reference() -> list:
    x: list = []
    x.append(x)
    return x


_structures = st.one_of(
    _plain,
    st.integers(min_value=10, max_value=60).map(_shared_bomb),
    st.just(None).map(lambda _: _self_reference()),
    st.integers(min_value=30, max_value=3000).map(lambda n: _nest(n)))


def _nest(n: int) -> Any:
    x: Any = 0
    for _ in range(n):
        x = [x]
    return x


def _tensors():
    return st.one_of(
        st.sampled_from([torch.zeros(3), torch.full((2, 2), math.nan), torch.full((4,), math.inf),
                         torch.zeros(0), torch.ones(1, dtype=torch.int64)]),
        st.integers(min_value=0, max_value=5).map(lambda n: torch.randn(*([2] * n)) if n else torch.tensor(1.0)))


# --- configs -----------------------------------------------------------------------------------

def _yaml_bomb(depth: int, width: int) -> str:
    lines = ["data: {source: digits}", "model_kwargs:", "  x0: &a0 [1]"]
    refs = ", ".join(["*a{}"] * width)
    lines += [f"  x{i}: &a{i} [{refs.format(*([i - 1] * width))}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


@st.composite
def config_texts(draw) -> bytes:
    """YAML config files: mostly known settings with random values, sometimes hostile structure."""
    from cnnlab.settings import all_settings

    kind = draw(st.sampled_from(["settings", "settings", "settings", "bomb", "deep", "selfref", "bytes"]))
    if kind == "bomb":
        return _yaml_bomb(draw(st.integers(2, 45)), draw(st.integers(2, 4))).encode()
    if kind == "deep":
        n = draw(st.integers(10, 20_000))
        return ("data: {source: digits}\nepochs: " + "[" * n + "]" * n + "\n").encode()
    if kind == "selfref":
        return b"data: {source: digits}\nmodel_kwargs: &a {x: [*a]}\n"
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    names = sorted(all_settings())
    mapping: dict[str, Any] = {"data": {"source": "digits"}}
    for name in draw(st.lists(st.sampled_from(names), max_size=6, unique=True)):
        mapping[name] = draw(_plain)
    if draw(st.booleans()):
        mapping["data"] = draw(st.one_of(_plain, st.just({"source": "digits", "split": [0.8, 0.1, 0.1]})))
    return yaml.safe_dump(mapping, allow_unicode=draw(st.booleans())).encode("utf-8", "surrogatepass")


def config_door(path: Path) -> None:
    """What `cnnlab train --config` does before it trains: read and check the config."""
    from cnnlab.train.config import load_config

    load_config(path)


# --- checkpoints ---------------------------------------------------------------------------------

def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Places to mutate: keys and the first list items, 6 levels deep at most (a bomb inserted by
    an earlier mutation must not explode the fuzzer itself)."""
    out = [prefix]
    if len(prefix) >= 6:
        return out
    if isinstance(obj, dict):
        for k, v in list(obj.items())[:40]:
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:2]):
            out += _paths(v, prefix + (i,))
    return out


def _replace(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    obj[path[0]] = _replace(obj[path[0]], path[1:], value)
    return obj


@st.composite
def mutated(draw, base: dict, values) -> Any:
    """`base` with one to three random places (keys, list items, or the whole) replaced or removed."""
    state = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(state)
        where = draw(st.sampled_from(paths))
        if where and draw(st.integers(0, 4)) == 0 and isinstance(_get(state, where[:-1]), dict):
            _get(state, where[:-1]).pop(where[-1], None)
        else:
            state = _replace(state, where, draw(values))
        if not isinstance(state, dict):
            break
    return state


def _get(obj: Any, path: tuple) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def checkpoint_values():
    return st.one_of(_structures, _tensors(), st.dictionaries(_texts, _tensors(), max_size=3))


def write_checkpoint(path: Path, state: Any, truncate: int | None) -> None:
    try:
        torch.save(state, path)
    except RecursionError:  # pickle itself cannot write ~1,000 levels: no such file can exist
        reject()
    if truncate is not None:
        data = path.read_bytes()
        path.write_bytes(data[: truncate % max(len(data), 1)])


def checkpoint_door(path: Path) -> None:
    """What every verb does with a checkpoint: rebuild the model and check it."""
    from cnnlab.run.checkpoint import load_model

    load_model(path)


# --- ONNX sidecars -------------------------------------------------------------------------------

def sidecar_door(path: Path) -> None:
    from cnnlab.evaluate.onnx_model import load_onnx

    load_onnx(path)


# --- the property ------------------------------------------------------------------------------

@dataclass
class FuzzResult:
    door: str
    tried: int = 0
    held: int = 0
    accepted: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def check_example(result: FuzzResult, door: Callable[[Path], None], path: Path, describe: str) -> None:
    """Run one example through its door and record whether the property held."""
    result.tried += 1
    before = _rss_bytes()
    try:
        door(path)
        result.accepted += 1
        outcome = None
    except CnnlabError as e:
        outcome = None if "\n" not in str(e).strip() else f"a refusal of more than one line: {str(e)[:200]!r}"
    except Exception as e:  # noqa: BLE001 - the property under test: nothing else may escape
        outcome = f"{type(e).__name__}: {str(e)[:200]}"
    grown = _rss_bytes() - before
    if outcome is None and grown > MEMORY_LIMIT:
        outcome = f"resident memory grew by {grown / 2**30:.1f} GB"
    if outcome is None:
        result.held += 1
    elif len(result.failures) < 20:
        result.failures.append(f"{describe}: {outcome}")


def _base_run(folder: Path) -> tuple[dict, Path]:
    """A real checkpoint and ONNX export to mutate (trained once, in seconds)."""
    from cnnlab.evaluate import export
    from cnnlab.train import fit

    run = folder / "base"
    if not (run / "best.pt").is_file():
        fit(data="digits", model="mnist-tiny", epochs=1, limit=100, project=folder, name="base", quiet=True,
            report=False, evaluate_test=False)
    onnx_path = folder / "export" / "m.onnx"
    if not onnx_path.is_file():
        export(run, format="onnx", out=onnx_path)
    return torch.load(run / "best.pt", weights_only=True), onnx_path


def run_fuzz(door: str, folder: str | Path, examples: int = 50, seed: int = 0) -> FuzzResult:
    """Fuzz one door ("configs", "checkpoints" or "sidecars") with `examples` generated files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = FuzzResult(door)
    start = time.perf_counter()
    budget = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
    if door == "configs":
        path = folder / "config.yaml"

        @budget
        @given(config_texts())
        def prop(text: bytes) -> None:
            path.write_bytes(text)
            check_example(result, config_door, path, f"config {text[:80]!r}")
    elif door == "checkpoints":
        base, _ = _base_run(folder)
        path = folder / "fuzzed" / "best.pt"
        path.parent.mkdir(exist_ok=True)

        @budget
        @given(mutated(base, checkpoint_values()), st.one_of(st.none(), st.none(), st.integers(0, 10**6)))
        def prop(state: Any, truncate: int | None) -> None:
            write_checkpoint(path, state, truncate)
            check_example(result, checkpoint_door, path, f"checkpoint (truncate={truncate}) "
                                                         f"{_short(state)}")
    elif door == "sidecars":
        _, onnx_path = _base_run(folder)
        base = json.loads((onnx_path.parent / (onnx_path.name + ".json")).read_text())
        model = folder / "fuzzed-onnx" / "m.onnx"
        model.parent.mkdir(exist_ok=True)
        model.write_bytes(onnx_path.read_bytes())
        sidecar = model.with_name(model.name + ".json")

        @budget
        @given(mutated(base, st.one_of(_plain, st.integers(30, 3000).map(_nest))), st.booleans())
        def prop(meta: Any, as_text: bool) -> None:
            try:
                text = json.dumps(meta)
            except (ValueError, RecursionError):
                text = "{"
            sidecar.write_text(text[: len(text) // 2] if as_text else text)
            check_example(result, sidecar_door, model, f"sidecar {text[:80]!r}")
    else:
        raise CnnlabError(f"fuzz door {door!r}: expected configs, checkpoints or sidecars")
    prop()
    result.seconds = time.perf_counter() - start
    return result


def _short(state: Any) -> str:
    try:
        return repr({k: type(v).__name__ for k, v in state.items()})[:120] if isinstance(state, dict) else \
            type(state).__name__
    except Exception:  # noqa: BLE001 - a description only
        return "?"
