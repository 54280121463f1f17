"""Issue 19 items 5 and 17: special files and linked class folders in an image folder.

A FIFO named pipe.png once hung `cnnlab data stats`, a link zero.png -> /dev/zero read until
MemoryError, the header check read whole files, and a class folder linked to '.' gave that class
every other class's images."""

from __future__ import annotations

import os
import threading
import tracemalloc

import pytest
from image_files import make_class_folder

from cnnlab.data.folders import HEADER_BYTES, MAX_IMAGE_FILE_BYTES, scan_folder
from cnnlab.errors import DataError
from reliability.image_corpus import png_with_declared_size
from reliability.matrix import run_cli_inprocess


def _scan_in_time(root, seconds: float = 60):
    out: dict = {}

    def work():
        try:
            out["scan"] = scan_folder(root)
        except Exception as e:  # reported below
            out["error"] = e

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "the scan hangs"
    if "error" in out:
        raise out["error"]
    return out["scan"]


def test_fifo_named_png_is_skipped_not_waited_on(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=4)
    os.mkfifo(root / "cats" / "pipe.png")
    scan = _scan_in_time(root)
    reasons = {os.path.basename(s.path): s.reason for s in scan.skipped}
    assert "regular file" in reasons["pipe.png"]
    assert len(scan.files["all"]) == 8


def test_link_to_dev_zero_is_skipped(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=4)
    (root / "dogs" / "zero.png").symlink_to("/dev/zero")
    scan = _scan_in_time(root)
    assert any(s.path.endswith("zero.png") and "regular file" in s.reason for s in scan.skipped)


def test_data_stats_cli_with_special_files_exits_0(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=4)
    os.mkfifo(root / "cats" / "pipe.png")
    (root / "dogs" / "zero.png").symlink_to("/dev/zero")
    code, err = run_cli_inprocess(["data", "stats", "--data", str(root)])
    assert code == 0, err


def test_header_check_reads_a_capped_prefix(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=4)
    big = root / "cats" / "big.png"
    with open(big, "wb") as f:  # a valid PNG header, then (sparse) padding past the file cap
        f.write(png_with_declared_size(64, 64))
        f.truncate(MAX_IMAGE_FILE_BYTES + HEADER_BYTES)
    tracemalloc.start()
    try:
        scan = scan_folder(root, workers=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * HEADER_BYTES, f"the header check held {peak / 2**20:.0f} MB"
    assert big in scan.sizes  # its header is fine; the full decode refuses it later (over the cap)


def test_class_folder_linked_to_its_parent_is_refused(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=4)
    (root / "birds").symlink_to(".", target_is_directory=True)
    with pytest.raises(DataError, match="birds.*other class folders"):
        scan_folder(root)


def test_class_folder_linked_to_another_class_is_refused(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=4)
    (root / "kittens").symlink_to(root / "cats", target_is_directory=True)
    with pytest.raises(DataError, match="kittens.*overlaps"):
        scan_folder(root)


def test_class_folder_linked_elsewhere_is_fine(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=4)
    elsewhere = make_class_folder(tmp_path / "more", classes=("birds",), per_class=4)
    (root / "birds").symlink_to(elsewhere / "birds", target_is_directory=True)
    assert scan_folder(root).class_names == ["birds", "cats", "dogs"]
