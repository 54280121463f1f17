"""Many concurrent prediction requests against a running app, each checked against the answer
the model gives directly: the load test of `benchmarks/bench_serve.py` and of the tests."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class LoadTestResult:
    """Counts and timings of one load test; `wrong` lists (request, expected, answered)."""

    requests: int
    clients: int
    seconds: float
    latencies: list[float]
    wrong: list[tuple[int, str, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    @property
    def correct(self) -> int:
        return self.requests - len(self.wrong) - len(self.failed)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        """Latency in seconds at quantile q (0–100)."""
        return float(np.percentile(self.latencies, q))

    def summary(self) -> str:
        return (f"{self.requests} requests from {self.clients} clients in {self.seconds:.2f} s: "
                f"{self.requests_per_s:.1f} requests/s, latency p50 {1000 * self.percentile(50):.1f} ms, "
                f"p95 {1000 * self.percentile(95):.1f} ms; {self.correct}/{self.requests} correct")


def load_test(url: str, images: Sequence[bytes], expected: Sequence[str], requests: int = 200,
              clients: int = 8, timeout: float = 60.0) -> LoadTestResult:
    """POST `requests` images (cycling through `images`) to `url`/predict from `clients` threads.

    Request i sends image i % len(images); its answer must be expected[i % len(images)]. Each
    client keeps one HTTP connection (httpx.Client), as a browser tab would.
    """
    import httpx

    local = threading.local()
    opened: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=timeout)
            opened.append(local.client)
        return local.client

    def one(i: int) -> tuple[int, float, str | None, str | None]:
        j = i % len(images)
        start = time.perf_counter()
        try:
            r = client().post("/predict", files={"file": (f"image{j}.png", images[j], "image/png")})
            elapsed = time.perf_counter() - start
            if r.status_code != 200:
                return i, elapsed, None, f"HTTP {r.status_code}: {r.text[:200]}"
            return i, elapsed, r.json()["prediction"]["class"], None
        except Exception as e:  # noqa: BLE001 - a failed request is a result to report, not a crash
            return i, time.perf_counter() - start, None, f"{type(e).__name__}: {e}"

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        answers = list(pool.map(one, range(requests)))
    seconds = time.perf_counter() - start
    for c in opened:
        c.close()
    result = LoadTestResult(requests, clients, seconds, sorted(a[1] for a in answers))
    for i, _, answer, error in answers:
        if error is not None:
            result.failed.append((i, error))
        elif answer != expected[i % len(images)]:
            result.wrong.append((i, expected[i % len(images)], answer))
    return result


def digit_pngs(n: int) -> list[bytes]:
    """n test digits of scikit-learn's set as PNG files of their own 8×8 size: real uploads
    whose answers differ, for load tests."""
    import io

    from PIL import Image

    from cnnlab.data import load_data

    out = []
    for im in load_data("digits").test.images[:n]:
        buf = io.BytesIO()
        Image.fromarray(im[0].numpy()).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out
