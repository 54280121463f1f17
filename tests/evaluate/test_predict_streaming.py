"""`predict` streams: files are read a batch at a time (memory bounded by the batch, not by the
folder), through DataLoader workers, with the same answers and error rows as one process."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import cnnlab.evaluate.file_batches as file_batches
import cnnlab.evaluate.prediction as prediction
from cnnlab.evaluate import predict


@pytest.fixture(scope="module")
def many_files(tmp_path_factory):
    """50 grey digit-like PNGs and, at positions 7 and 31, two files that are not images."""
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    for i in range(50):
        path = root / f"img{i:03d}.png"
        if i in (7, 31):
            path.write_bytes(b"\x89PNG\r\n\x1a\n not a png")
        else:
            Image.fromarray(rng.integers(0, 256, (8 + i % 5, 8), dtype=np.uint8)).save(path)
    return root


def test_files_are_read_one_batch_ahead_of_the_model_at_most(digit_run, many_files, monkeypatch):
    events: list[str] = []
    real_prepare = file_batches._PreparedFiles.__getitem__
    real_predict = prediction.predict_batch
    monkeypatch.setattr(file_batches._PreparedFiles, "__getitem__",
                        lambda self, i: (events.append("read"), real_prepare(self, i))[1])
    monkeypatch.setattr(prediction, "predict_batch",
                        lambda loaded, batch, tta=False: (events.append("model"), real_predict(loaded, batch, tta))[1])
    rows = predict(digit_run, [many_files], batch_size=8, workers=0)
    assert len(rows) == 50 and sum(r.ok for r in rows) == 48
    # in one process: 8 files read, their batch scored, the next 8, ...: never more than a batch read ahead
    unscored, most = 0, 0
    for e in events:
        unscored = unscored + 1 if e == "read" else 0
        most = max(most, unscored)
    assert most == 8 and events[:9] == ["read"] * 8 + ["model"]
    assert events.count("model") == 7  # ceil(50 / 8): every batch had a readable file


def test_workers_give_the_same_rows_in_order(digit_run, many_files):
    alone = predict(digit_run, [many_files], top_k=3, batch_size=16, workers=0)
    workers = predict(digit_run, [many_files], top_k=3, batch_size=16, workers=2)
    assert [r.path for r in workers] == [r.path for r in alone] == sorted(r.path for r in alone)
    assert [r.error for r in workers] == [r.error for r in alone]
    assert [r.error is not None for r in alone].count(True) == 2
    assert not alone[7].ok and not alone[31].ok and "not a readable image" in alone[7].error
    for a, w in zip(alone, workers):
        assert [c for c, _ in a.top] == [c for c, _ in w.top]
        assert [p for _, p in a.top] == pytest.approx([p for _, p in w.top], abs=1e-6)


def test_a_batch_of_only_bad_files_is_skipped_not_scored(digit_run, tmp_path):
    for i in range(3):
        (tmp_path / f"bad{i}.png").write_bytes(b"nope")
    (tmp_path / "z_good.png").write_bytes(b"")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "z_good.png")
    rows = predict(digit_run, [tmp_path], batch_size=3, workers=0)
    assert [r.ok for r in rows] == [False, False, False, True]


def test_default_workers():
    assert file_batches.default_workers(10) == 0
    assert 1 <= file_batches.default_workers(10_000) <= 4
