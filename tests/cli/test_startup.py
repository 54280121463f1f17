"""Start-up: the verbs that only print (`--help`, `version`, `models`, `recipes`) import no torch.

`import torch` alone takes 1.2–2.8 s on the 2-core machine and Lightning another ~6 s, so these
verbs answer in well under a second only if neither is imported. The time itself is a benchmark
row (`cnnlab bench speed`, row 9); here each verb runs in a fresh interpreter and the test
checks which heavy modules it left in `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cnnlab

SRC = str(Path(cnnlab.__file__).parents[1])
HEAVY = ("torch", "lightning", "torchvision", "timm", "matplotlib", "numpy")

# Runs one verb through the real entry point, then reports its exit code, output and heavy imports.
_RUN_VERB = """
import json, sys, io, contextlib
from cnnlab.cli import main
out = io.StringIO()
code = 0
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:])
    except SystemExit as e:
        code = e.code or 0
print(json.dumps({"code": code, "out": out.getvalue(),
                  "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def _run_verb(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _RUN_VERB, *argv], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": SRC, "COLUMNS": "120"}, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _verbs() -> list[str]:
    import typer

    from cnnlab.cli import app

    return list(typer.main.get_command(app).commands)


@pytest.mark.parametrize("argv", [("--help",), ("version",), ("models",), ("models", "--filter", "mnist"),
                                  ("recipes",)])
def test_printing_verbs_import_nothing_heavy(argv):
    if argv[0] not in ("--help", *_verbs()):
        pytest.skip(f"no `cnnlab {argv[0]}` verb on this branch")
    result = _run_verb(*argv)
    assert result["code"] == 0, result["out"]
    assert result["out"].strip(), "the verb printed nothing"
    assert result["heavy"] == [], f"cnnlab {' '.join(argv)} imported {result['heavy']}"


def test_models_lists_the_presets_and_families():
    out = _run_verb("models")["out"]
    for name in ("mnist-tutorial", "keras-catsdogs", "vgg16", "efficientnet_lite0"):
        assert name in out
    # the family help keeps its square brackets (printed as text, not read as rich markup)
    assert "head=[widths]" in out
