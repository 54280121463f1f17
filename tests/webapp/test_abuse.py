"""The issue-19 properties against a real `cnnlab serve` process (issue 19 items 6 and 7):
5,000 idle half-open connections leave /health answering in under a second, and 8 concurrent
9,000×9,000 uploads keep the server under 1.5 GB (4,500² in the default run). Before the fix the server stopped answering
(file descriptors exhausted) and 8 such uploads peaked at 5.1 GB."""

from __future__ import annotations

import pytest

from reliability.serve_hardening import (health_under_half_open, large_png, open_files_for,
                                         peak_memory_of_uploads, server_process)

HALF_OPEN = 5000


@pytest.fixture(scope="module")
def server(trained_run):
    with server_process(trained_run) as served:
        yield served


def test_health_answers_under_5000_half_open_connections(server):
    url, _ = server
    n = min(HALF_OPEN, open_files_for(HALF_OPEN))
    if n < 1000:
        pytest.skip(f"this process may open only {n} sockets")
    held, status, seconds = health_under_half_open(url, n)
    assert held >= 0.98 * n, f"the server closed {n - held} of {n} connections: the property needs them held"
    assert status == 200 and seconds < 1.0, f"/health answered {status} in {seconds:.2f} s"


@pytest.mark.parametrize("side", [pytest.param(9000, marks=pytest.mark.slow), 4500])
def test_eight_concurrent_large_uploads_stay_under_1_5_gb(server, side):
    """9,000² is the issue's case (~40 s of decoding on 2 shared cores: `make test-slow` and the
    large-images row of `cnnlab bench reliability`); 4,500² is past the one-at-a-time threshold
    too and keeps the property in `make test`."""
    url, pid = server
    codes, peak_mb, health_s = peak_memory_of_uploads(url, pid, large_png(side), 8)
    assert codes == [200] * 8
    assert peak_mb < 1536, f"server RSS peaked at {peak_mb:.0f} MB"
    assert health_s < 1.0, f"/health took {health_s:.2f} s during the uploads"
