"""Structure-aware fuzzing (hypothesis) of configs, checkpoints and ONNX sidecars: every
generated file is accepted or refused with a one-line CnnlabError (exit 0 or exit 2), never
another exception, never 1 GB more memory. `cnnlab bench reliability` runs 1,000 of each."""

from __future__ import annotations

import pytest

from reliability.fuzz_files import run_fuzz


@pytest.mark.parametrize("door", ["configs", "checkpoints", "sidecars"])
def test_fuzzed_files_are_accepted_or_refused_in_one_line(tmp_path_factory, door):
    result = run_fuzz(door, tmp_path_factory.mktemp(door), examples=50)
    assert result.tried >= 50 and result.held == result.tried, "\n".join(result.failures)
