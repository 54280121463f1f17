"""Training keeps freed memory in the process: the next step reuses pages instead of faulting."""

import os
import subprocess
import sys

import pytest

# Measured in a fresh process: in the whole suite the heap that earlier tests leave behind (their
# threads' arenas, DataLoader workers, the web app's malloc_trim) decided where the block landed.
FAULTS_AFTER_REUSE = """
import resource, torch
from cnnlab.train.allocator import keep_freed_memory
if not keep_freed_memory():
    print("unsupported")
    raise SystemExit
block = 16 * 2**20  # float32 values: 64 MiB, above glibc's largest mmap threshold (32 MiB)
for _ in range(5):  # the block settles in one place
    torch.ones(block)
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    torch.ones(block)  # allocated again after the last one was freed
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def test_a_freed_64_mib_block_is_reused_without_page_faults():
    out = subprocess.run([sys.executable, "-c", FAULTS_AFTER_REUSE], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "CNNLAB_KEEP_FREED_MEMORY"})
    if out.stdout.strip() == "unsupported":
        pytest.skip("malloc settings apply to Linux with glibc only")
    # fresh 64 MiB mappings would fault in each of their 3 × 16,384 pages
    assert int(out.stdout.strip()) < 1_000, out.stdout


def test_without_the_setting_the_block_faults_in_again():
    # the check above can fail: with the setting off, each 64 MiB block is a fresh mapping
    env = {**os.environ, "CNNLAB_KEEP_FREED_MEMORY": "0"}
    out = subprocess.run([sys.executable, "-c", FAULTS_AFTER_REUSE.replace(
        "if not keep_freed_memory():", "if keep_freed_memory() or not __import__('sys').platform.startswith('linux'):")],
        capture_output=True, text=True, check=True, env=env)
    if out.stdout.strip() == "unsupported":
        pytest.skip("Linux with glibc only")
    assert int(out.stdout.strip()) > 3 * 16_384 // 2, out.stdout


def test_it_can_be_turned_off():
    code = "from cnnlab.train.allocator import keep_freed_memory; print(keep_freed_memory())"
    env = {**os.environ, "CNNLAB_KEEP_FREED_MEMORY": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
