"""Shared test fixtures: real MNIST from ../shared/data, and image folders written by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def data_required() -> bool:
    """CNNLAB_REQUIRE_DATA=1 (set by .ci/run): missing data fails a test instead of skipping it,
    as CNNLAB_REQUIRE_BROWSER does for the browser, so CI cannot pass by skipping everything."""
    return os.environ.get("CNNLAB_REQUIRE_DATA", "") not in ("", "0")


def skip_or_fail_for_missing_data(what: str) -> None:
    """Skip a test whose data is absent, or fail it when the data is required."""
    message = f"{what} not found (set CNNLAB_DATA to the folder holding it, e.g. ../shared/data)"
    if data_required():
        pytest.fail(f"CNNLAB_REQUIRE_DATA is set and {message}", pytrace=False)
    pytest.skip(message)


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
        skip_or_fail_for_missing_data("real MNIST (MNIST/raw)")
    return root


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Tests share 2 cores; pinning threads keeps timings and float reductions stable.
    torch.set_num_threads(2)
    yield


@pytest.fixture(scope="session")
def mnist_root_or_none() -> Path | None:
    """Real MNIST if it is here, else None (for tests that can use a stand-in).

    With CNNLAB_REQUIRE_DATA set, a missing MNIST fails instead of falling back to the stand-in."""
    root = find_mnist_root()
    if root is None and data_required():
        skip_or_fail_for_missing_data("real MNIST (MNIST/raw)")
    return root
