"""Training keeps freed memory in the process: the next step reuses pages instead of faulting."""

import os
import resource
import subprocess
import sys

import pytest
import torch

from cnnlab.train.allocator import keep_freed_memory


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_a_freed_64_mib_block_is_reused_without_page_faults():
    if not keep_freed_memory():
        pytest.skip("malloc settings apply to Linux with glibc only")
    block = 16 * 2**20  # float32 values: 64 MiB, above glibc's largest mmap threshold (32 MiB)
    # A few rounds first: free chunks left in the heap by earlier tests are used up and merged
    # before the block settles in one place (measured: after at most 3 rounds, in any test order).
    for _ in range(5):
        torch.ones(block)
    start = minor_faults()
    for _ in range(3):
        torch.ones(block)  # allocated again after the last one was freed
    # fresh 64 MiB mappings would fault in each of their 3 × 16,384 pages
    assert minor_faults() - start < 1_000


def test_it_can_be_turned_off():
    code = "from cnnlab.train.allocator import keep_freed_memory; print(keep_freed_memory())"
    env = {**os.environ, "CNNLAB_KEEP_FREED_MEMORY": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
