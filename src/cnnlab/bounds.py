"""Caps on untrusted structured data: nesting depth, expanded size, self-reference.

Config files (YAML), checkpoints (torch's pickle) and ONNX sidecars (JSON) can all share one
object in several places: a YAML alias (`&a [*b, *b]`) or a pickle memo reference. Forty levels
of `[x, x]` are a few hundred bytes on disk and 2**40 values to anyone who walks them as a tree
(measured: a 901-byte config grew `cnnlab train` to a MemoryError; a 125 KB checkpoint spun
`load_model` from 0.9 to 2.2 GB in 60 s). These checks walk the graph once per distinct object,
count what a tree walk would visit, and refuse before anything expands it.

    check_plain(state, "runs/x/best.pt", CheckpointError)      # Python values (lists, dicts, ...)
    safe_yaml_load(text, "config.yaml")                         # YAML: nodes checked, then built
    load_json_bounded(text, "model.json", CheckpointError)      # JSON: depth-capped parse
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from cnnlab.errors import CnnlabError, ConfigError

MAX_DEPTH = 32  # cnnlab's own files nest 4 levels (config → data → augment → value); 32 is generous
MAX_VALUES = 1_000_000  # values a tree walk may visit (a checkpoint's history of 10,000 epochs is ~170,000)


class _TooBig(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _expanded_size(children_of, root: Any, max_depth: int, max_values: int) -> int:
    """How many values a tree walk of `root` visits (shared children counted each time they occur).

    `children_of(x)` gives x's children (empty for a leaf). Each distinct object is sized once
    (memoised by id), so the walk itself costs the graph's size, not its expansion.
    """
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    keep: list[Any] = []  # holds the objects whose ids are memoised, so an id is never reused

    def size(x: Any, depth: int) -> int:
        if depth > max_depth:
            raise _TooBig(f"nested more than {max_depth} levels deep (expected at most {max_depth})")
        kids = children_of(x)
        if not kids:
            return 1
        key = id(x)
        if key in on_path:
            raise _TooBig("refers to itself (a recursive alias or reference)")
        if key in sizes:
            return sizes[key]
        on_path.add(key)
        total = 1
        for kid in kids:
            total += size(kid, depth + 1)
            if total > max_values:
                raise _TooBig(f"expands to more than {max_values:,} values (an alias or shared-reference "
                              "bomb?); expected a small structure")
        on_path.discard(key)
        sizes[key] = total
        keep.append(x)
        return total

    return size(root, 0)


def _plain_children(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [v for kv in x.items() for v in kv]
    if isinstance(x, (list, tuple, set, frozenset)):
        return list(x)
    return []


def check_plain(value: Any, where: str, error: type[CnnlabError] = ConfigError,
                max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> None:
    """Refuse plain Python data (dicts, lists, tuples) that is too deep, expands too far, or
    contains itself; tensors and other objects count as single values."""
    try:
        _expanded_size(_plain_children, value, max_depth, max_values)
    except _TooBig as e:
        raise error(f"{where}: {e.reason}") from None


def _node_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for kv in node.value for n in kv]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def safe_yaml_load(text: str, where: str, error: type[CnnlabError] = ConfigError,
                   max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Any:
    """`yaml.safe_load`, with the node graph checked (depth, alias expansion, self-reference)
    before any Python value is built. Tags that construct objects stay refused (SafeLoader)."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise error(f"{where}: nested too deeply to read (expected at most {max_depth} levels)") from None
        if node is None:
            return None
        try:
            _expanded_size(_node_children, node, max_depth, max_values)
        except _TooBig as e:
            raise error(f"{where}: {e.reason}") from None
        try:
            return loader.construct_document(node)
        except ValueError as e:  # e.g. a 5,000-digit integer (Python's int-from-text limit)
            raise error(f"{where}: a value cannot be read ({str(e).splitlines()[0][:120]})") from None
    except yaml.YAMLError as e:
        detail = " ".join(str(e).split())[:300]  # PyYAML's messages span lines; a refusal is one line
        raise error(f"{where}: not valid YAML or uses a tag that is not allowed ({detail})") from None
    finally:
        loader.dispose()


def load_json_bounded(text: str | bytes, where: str, error: type[CnnlabError] = ConfigError,
                      max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Any:
    """`json.loads` refusing deep nesting, huge numbers and oversized documents with `error`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise error(f"{where}: nested too deeply to read (expected at most {max_depth} levels)") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError; so is a 5,000-digit int
        raise error(f"{where}: not valid JSON ({str(e).splitlines()[0][:120]})") from None
    check_plain(value, where, error, max_depth, max_values)
    return value
