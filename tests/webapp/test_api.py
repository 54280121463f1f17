"""The web app's API through FastAPI's test client: each endpoint and each error code."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cnnlab.errors import CnnlabError
from cnnlab.serve import create_app
from webapp_images import png_bytes


@pytest.fixture(scope="module")
def client(trained_run):
    return TestClient(create_app(trained_run, max_upload_mb=0.05), base_url="http://127.0.0.1")  # 50 kB: easy to exceed in a test


def test_health_and_model(client):
    assert client.get("/health").json() == {"status": "ok", "architecture": "mnist-tiny", "classes": 10}
    info = client.get("/model").json()
    assert info["class_names"] == [str(i) for i in range(10)]
    assert info["input_size"] == [1, 28, 28]
    assert info["parameters"] == 9098  # the tutorial's tiny CNN
    assert info["conv_layers"] and info["default_layer"] == info["conv_layers"][-1]


def test_predict_matches_direct_inference(client, digit_pngs):
    pngs, expected = digit_pngs
    for png, want in list(zip(pngs, expected))[:10]:
        r = client.post("/predict", files={"file": ("digit.png", png, "image/png")}, data={"k": "3"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["prediction"]["class"] == want
        assert len(body["top_k"]) == 3
        probs = [t["probability"] for t in body["top_k"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6


def test_any_mode_and_size_is_converted_as_in_training(client, digit_pngs):
    """An upscaled RGBA copy of a grey digit gets the same answer as the original."""
    from PIL import Image

    pngs, expected = digit_pngs
    import io

    grey = np.asarray(Image.open(io.BytesIO(pngs[0])))
    rgb = np.stack([grey] * 3 + [np.full_like(grey, 255)], axis=2)  # RGBA, opaque
    big = np.asarray(Image.fromarray(rgb, "RGBA").resize((64, 64), Image.NEAREST))
    r = client.post("/predict", files={"file": ("big.png", png_bytes(big), "application/octet-stream")})
    assert r.status_code == 200 and r.json()["image_size"] == [64, 64]
    assert r.json()["prediction"]["class"] == expected[0]


def test_upload_errors(client, digit_pngs):
    r = client.post("/predict", files={"file": ("notes.txt", b"hello, not an image", "text/plain")})
    assert r.status_code == 415 and "notes.txt: not an image" in r.json()["detail"]
    good = digit_pngs[0][0]
    r = client.post("/predict", files={"file": ("cut.png", good[: len(good) // 2], "image/png")})
    assert r.status_code == 400 and "cut.png: corrupt" in r.json()["detail"]
    r = client.post("/predict", files={"file": ("empty.png", b"", "image/png")})
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    noise = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)  # ~120 kB as PNG
    r = client.post("/predict", files={"file": ("noise.png", png_bytes(noise), "image/png")})
    assert r.status_code == 413 and "upload limit" in r.json()["detail"]
    r = client.post("/predict")
    assert r.status_code == 422  # no file field: FastAPI's validation error names it
    assert "file" in r.text


def test_oversized_body_without_length_is_refused(trained_run):
    """A chunked upload (no Content-Length) is counted while it streams."""
    from cnnlab.serve.limits import BodySizeLimit

    client = TestClient(create_app(trained_run, max_upload_mb=0.01), base_url="http://127.0.0.1")
    assert any(m.cls is BodySizeLimit for m in client.app.user_middleware)

    def chunks():
        for _ in range(50):
            yield b"x" * 10_000

    r = client.post("/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413


def test_page_docs_and_report(client, trained_run):
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and "mnist-tiny" in page.text
    assert "<script src" not in page.text and "<link" not in page.text  # self-contained
    docs = client.get("/docs")
    assert docs.status_code == 200 and "http" not in docs.text.replace(client.base_url.host, "")  # offline: no CDN
    assert client.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    # fit() only trains, so this run has no report yet: a 404 that says how to build one
    # (test_report_is_served_when_built serves a built one).
    assert not (trained_run / "report.html").exists()
    r = client.get("/report")
    assert r.status_code == 404 and f"build it with: cnnlab report {trained_run}" in r.json()["detail"]


def test_explain_errors_and_bad_settings(client, digit_pngs):
    png = digit_pngs[0][0]
    r = client.post("/explain", files={"file": ("d.png", png, "image/png")}, data={"method": "tsne"})
    assert r.status_code == 400 and "gradcam" in r.json()["detail"]
    with pytest.raises(CnnlabError, match="max_upload_mb"):
        create_app(client.app.state.service.loaded, max_upload_mb=0)


def test_explain_returns_png(client, digit_pngs):
    pytest.importorskip("cnnlab.explain", reason="needs cnnlab.explain")
    png = digit_pngs[0][0]
    for method, layer in (("gradcam", None), ("featuremaps", client.get("/model").json()["conv_layers"][0])):
        data = {"method": method} | ({"layer": layer} if layer else {})
        r = client.post("/explain", files={"file": ("d.png", png, "image/png")}, data=data)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png" and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    r = client.post("/explain", files={"file": ("d.png", png, "image/png")},
                    data={"method": "featuremaps", "layer": "no.such.layer"})
    assert r.status_code == 400 and "no.such.layer" in r.json()["detail"]


def test_report_is_served_when_built(trained_run, tmp_path):
    import shutil

    from cnnlab.report import build_report

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    build_report(run)
    client = TestClient(create_app(run), base_url="http://127.0.0.1")
    assert client.get("/model").json()["report_available"] is True
    r = client.get("/report")
    assert r.status_code == 200 and "<h1>Run run · mnist-tiny</h1>" in r.text
