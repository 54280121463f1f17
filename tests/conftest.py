"""Shared test fixtures: real MNIST from ../shared/data, and image folders written by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def find_mnist_root() -> Path | None:
    """The data root holding MNIST/raw: $CNNLAB_DATA, else ../shared/data beside the repository."""
    candidates = [os.environ.get("CNNLAB_DATA"), REPO.parent / "shared" / "data", REPO / "data"]
    for c in candidates:
        if c and (Path(c) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    root = find_mnist_root()
    if root is None:
        pytest.skip("real MNIST not found (set CNNLAB_DATA to a folder holding MNIST/raw)")
    return root


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Tests share 2 cores; pinning threads keeps timings and float reductions stable.
    torch.set_num_threads(2)
    yield


@pytest.fixture(scope="session")
def mnist_root_or_none() -> Path | None:
    """Real MNIST if it is here, else None (for tests that can use a stand-in)."""
    return find_mnist_root()
