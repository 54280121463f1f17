"""The mutation check stays usable: every mutant names tests that exist and code that exists.
(`make mutants` runs them; this only checks the catalogue, in a second.)"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from catalogue import MUTANTS  # noqa: E402


def test_the_issue_23_mutants_are_all_there():
    names = {m.name for m in MUTANTS}
    assert {"resume-from-scratch", "identity-augmentation", "constant-gradcam++", "every-rank-rank-0-shard",
            "exif-ignored", "16-bit-clipped", "pickle-refusal-removed", "symlink-refusal-removed",
            "nan-loss-accepted"} <= names


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_mutant_names_existing_tests(mutant):
    assert mutant.tests
    for node in mutant.tests:
        path, _, name = node.partition("::")
        function = name.split("[")[0]
        tree = ast.parse((REPO / path).read_text())
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert function in defined, f"{mutant.name}: {node} does not exist (renamed? update catalogue.py)"


def test_every_mutant_still_applies():
    # in a fresh interpreter, as run.py applies them (all in one, to keep this quick): a renamed
    # target raises StaleMutant
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import catalogue\n"
            "for m in catalogue.MUTANTS: catalogue.apply(m.name)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
