"""Concurrent requests against a real uvicorn server on localhost: all answered, none mixed up."""

from __future__ import annotations

from cnnlab.serve.server import running_server
from cnnlab.serve.loadtest import load_test


def test_concurrent_predictions_are_all_correct(trained_run, digit_pngs):
    pngs, expected = digit_pngs
    assert len(set(expected)) >= 5  # different answers, so a mixed-up response would show
    with running_server(trained_run) as url:
        result = load_test(url, pngs, expected, requests=40, clients=8)
    assert result.failed == [] and result.wrong == [], result.summary()
    assert result.correct == 40
