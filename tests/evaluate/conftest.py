"""Models trained once per test session on the scikit-learn digits (8×8 upsampled to 28×28):
three seeds of the tiny MNIST CNN, sharing one data split, for evaluation and ensembles."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.train import fit


@pytest.fixture(scope="session")
def digit_runs(tmp_path_factory) -> list[Path]:
    """Three run folders (seeds 0, 1, 2), 2 epochs each: about 5 s apiece on one core."""
    project = tmp_path_factory.mktemp("runs")
    return [fit(data="digits", model="mnist-tiny", epochs=2, batch_size=32, seed=seed, project=project,
                name=f"seed{seed}", quiet=True).run_dir for seed in range(3)]


@pytest.fixture(scope="session")
def digit_run(digit_runs) -> Path:
    return digit_runs[0]
