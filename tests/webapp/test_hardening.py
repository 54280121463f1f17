"""The web app against an attacker and a careless user (issue 19): what it serves, which Host it
answers, what a class name can do to the page, half-open connections, decoder crashes, odd
targets and non-finite models. Each test here failed on the app before the fix."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import struct
import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from cnnlab.errors import CnnlabError
from cnnlab.serve import create_app
from webapp_images import png_bytes

LOCAL = "http://127.0.0.1"  # the Host the app answers by default (TestClient's "testserver" is refused)


@pytest.fixture(scope="module")
def client(trained_run):
    return TestClient(create_app(trained_run), base_url=LOCAL)


def copy_run(trained_run, tmp_path, name="run"):
    run = tmp_path / name
    shutil.copytree(trained_run, run)
    return run


def with_class_names(run, names):
    """Rewrite the run's checkpoints with other class names (same weights)."""
    from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint

    for ckpt in run.glob("*.pt"):
        state = load_checkpoint(ckpt)
        state["class_names"] = list(names)
        save_checkpoint({k: v for k, v in state.items() if k not in ("format", "version")}, ckpt)
    return run


# --- item 2: /report and the Host header --------------------------------------------------------

def test_report_symlinked_out_of_the_run_is_not_served(trained_run, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:the secret")
    run = copy_run(trained_run, tmp_path)
    (run / "report.html").unlink(missing_ok=True)
    (run / "report.html").symlink_to(secret)
    client = TestClient(create_app(run), base_url=LOCAL)
    r = client.get("/report")
    assert r.status_code == 404 and "the secret" not in r.text
    assert "symbolic link" in r.json()["detail"]
    assert client.get("/model").json()["report_available"] is False


def test_report_that_is_not_a_regular_file_is_not_served(trained_run, tmp_path):
    import os

    run = copy_run(trained_run, tmp_path)
    (run / "report.html").unlink(missing_ok=True)
    os.mkfifo(run / "report.html")  # a reader would block forever
    client = TestClient(create_app(run), base_url=LOCAL)
    r = client.get("/report")
    assert r.status_code == 404 and "not a regular file" in r.json()["detail"]


def test_foreign_host_header_is_refused(client):
    """DNS rebinding: a page on evil.example resolves its name to 127.0.0.1 and reads the API."""
    refused = client.get("/model", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and "Host header: 'evil.example'" in refused.json()["detail"]
    assert client.get("/health", headers={"Host": "evil.example:8000"}).status_code == 400
    for host in ("127.0.0.1", "127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
        assert client.get("/model", headers={"Host": host}).status_code == 200, host


def test_host_given_at_start_is_accepted(trained_run):
    from cnnlab.serve.app import allowed_hosts

    client = TestClient(create_app(trained_run, host="box.lan"), base_url="http://box.lan")
    assert client.get("/health").status_code == 200
    assert client.get("/health", headers={"Host": "other.lan"}).status_code == 400
    assert "[fe80::1]" in allowed_hosts("fe80::1")
    assert allowed_hosts("0.0.0.0") == ["*"]  # bound to every interface: names are the network's


# --- item 3: class names in the page ------------------------------------------------------------

XSS = "</script><script>document.title='XSS'</script>"


def embedded_model_info(page: str) -> dict:
    """The JSON the page's script starts from (the text between `let MODEL = ` and `;`)."""
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    return json.loads(re.search(r"let MODEL = (.*?);\n", script).group(1))


def test_class_names_cannot_break_out_of_the_page_script(trained_run, tmp_path):
    # ("\u2028", a JavaScript line break, is refused when the checkpoint loads: not printable)
    names = [XSS, "<!--", "a&b", "'\"`"] + [str(i) for i in range(4, 10)]
    run = with_class_names(copy_run(trained_run, tmp_path), names)
    client = TestClient(create_app(run), base_url=LOCAL)
    page = client.get("/").text
    assert page.count("</script>") == 1 and "<script>document.title" not in page and "<!--" not in page
    assert embedded_model_info(page)["class_names"] == names  # the names survive, escaped
    assert client.get("/model").json()["class_names"] == names


# The checkpoint loader refuses the first three (printable text of 1 to 200 characters) before
# the app's own check, which adds the duplicate.
@pytest.mark.parametrize("bad, why", [("x" * 201, "1 to 200 characters"), ("cat\x00", "printable text"),
                                      ("", "1 to 200 characters"), ("dup", "twice")])
def test_class_names_are_checked_when_served(trained_run, tmp_path, bad, why):
    names = [bad] + [str(i) for i in range(1, 10)]
    if bad == "dup":
        names[1] = "dup"
    run = with_class_names(copy_run(trained_run, tmp_path), names)
    with pytest.raises(CnnlabError, match=f"class_names.*{why}"):
        create_app(run)


# --- item 6: half-open and slow connections -----------------------------------------------------

def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (None: still open after `seconds`)."""
    sock.settimeout(seconds)
    start = time.monotonic()
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return time.monotonic() - start
    except socket.timeout:
        return None
    except ConnectionResetError:
        return time.monotonic() - start


def test_half_open_connections_are_closed_after_the_header_timeout(trained_run):
    from cnnlab.serve.connections import ConnectionLimits
    from cnnlab.serve.server import running_server

    limits = ConnectionLimits(header_timeout=1.0, body_timeout=1.5)
    with running_server(trained_run, limits=limits) as url:
        host, port = url.removeprefix("http://").split(":")
        silent = socket.create_connection((host, int(port)))
        half = socket.create_connection((host, int(port)))
        half.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: headers never end
        slow_body = socket.create_connection((host, int(port)))
        slow_body.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                          b"boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\n")
        for sock, limit in ((silent, 4), (half, 4), (slow_body, 5)):
            waited = _closed_within(sock, limit)
            sock.close()
            assert waited is not None, f"connection still open after {limit} s"
        import httpx

        assert httpx.get(url + "/health").status_code == 200


def test_idle_connections_are_evicted_when_the_table_is_full(trained_run):
    """With every slot taken by half-open connections, a real request still gets an answer."""
    import httpx

    from cnnlab.serve.connections import ConnectionLimits
    from cnnlab.serve.server import running_server

    with running_server(trained_run, limits=ConnectionLimits(max_connections=40)) as url:
        host, port = url.removeprefix("http://").split(":")
        socks = []
        for _ in range(100):
            s = socket.create_connection((host, int(port)))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        start = time.monotonic()
        r = httpx.get(url + "/health", timeout=10)
        assert r.status_code == 200 and time.monotonic() - start < 2
        closed = sum(_closed_within(s, 0.01) is not None for s in socks)
        for s in socks:
            s.close()
        assert closed >= 50  # the oldest half-open ones made room


# --- items 7 and 10: decoders ------------------------------------------------------------------

def dds_unknown_pixel_format() -> bytes:
    """A DDS header with a made-up FourCC: Pillow's DDS plugin raises NotImplementedError."""
    header = b"DDS " + struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + b"\0" * 44
    return header + struct.pack("<2I4s5I", 32, 0x4, b"ABCD", 0, 0, 0, 0, 0) + b"\0" * 84


def test_upload_that_crashes_a_decoder_is_a_4xx(client):
    r = client.post("/predict", files={"file": ("photo.png", dds_unknown_pixel_format(), "image/png")})
    assert 400 <= r.status_code < 500 and "photo.png" in r.json()["detail"]
    assert client.get("/health").status_code == 200


def test_large_upload_is_decoded_at_reduced_size(client):
    """A 6000×6000 upload is answered with its real size, and the same class as a small copy."""
    from PIL import Image

    small = np.zeros((60, 60), np.uint8)
    small[10:50, 25:35] = 255  # a bar: a "1"-like digit
    big = np.asarray(Image.fromarray(small).resize((6000, 6000), Image.NEAREST))
    r_big = client.post("/predict", files={"file": ("big.png", png_bytes(big), "image/png")})
    r_small = client.post("/predict", files={"file": ("small.png", png_bytes(small), "image/png")})
    assert r_big.status_code == 200 and r_big.json()["image_size"] == [6000, 6000]
    assert r_big.json()["prediction"]["class"] == r_small.json()["prediction"]["class"]
    # What the app decodes: reduced by an integer factor to ≥ 2× the 8×8 input, not 6000×6000.
    from cnnlab.serve.uploads import decode_upload

    image, size = decode_upload(png_bytes(big), "big.png", 1, min_side=16)
    assert size == (6000, 6000) and 16 <= image.shape[1] < 32 and image.shape[1:] == image.shape[1:][::-1]


# --- item 14: odd targets -------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["²", "⁵", "٣", "9" * 5000, "-" + "1" * 30])
def test_explain_odd_target_is_a_4xx(client, digit_pngs, target):
    png = digit_pngs[0][0]
    r = client.post("/explain", files={"file": ("d.png", png, "image/png")},
                    data={"method": "gradcam", "target": target})
    assert r.status_code == 400, r.text
    assert "class" in r.json()["detail"]


def test_explain_numeric_targets_still_work(client, digit_pngs):
    png = digit_pngs[0][0]
    for target in ("3", " 3 ", "0"):
        r = client.post("/explain", files={"file": ("d.png", png, "image/png")},
                        data={"method": "gradcam", "target": target})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("target", ["²", "9" * 5000])
def test_cli_explain_odd_class_exits_2(trained_run, tmp_path, digit_pngs, capsys, target):
    from cnnlab.cli import main

    image = tmp_path / "d.png"
    image.write_bytes(digit_pngs[0][0])
    with pytest.raises(SystemExit) as done:
        main(["explain", str(trained_run), str(image), "--class", target, "--out", str(tmp_path / "x.png")])
    assert done.value.code == 2
    assert "class" in capsys.readouterr().err


# --- item 16: non-finite models ----------------------------------------------------------------

def test_model_with_nan_weights_is_refused(trained_run, tmp_path):
    from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint

    run = copy_run(trained_run, tmp_path)
    for ckpt in run.glob("*.pt"):
        state = load_checkpoint(ckpt)
        name = next(k for k, v in state["model"].items() if v.is_floating_point())
        state["model"][name] = torch.full_like(state["model"][name], float("nan"))
        save_checkpoint({k: v for k, v in state.items() if k not in ("format", "version")}, ckpt)
    with pytest.raises(CnnlabError, match="NaN or infinite"):
        create_app(run)


def test_non_finite_answer_is_never_a_200(loaded, digit_pngs):
    """Finite weights can still overflow: a 1e38 bias makes the logits inf and softmax NaN."""
    import copy
    import dataclasses

    model = copy.deepcopy(loaded.model)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias.fill_(3e38)
        last.weight.fill_(3e38)
    client = TestClient(create_app(dataclasses.replace(loaded, model=model)), base_url=LOCAL)
    r = client.post("/predict", files={"file": ("d.png", digit_pngs[0][0], "image/png")})
    assert r.status_code == 422, r.text
    assert "not finite" in r.json()["detail"]
    r = client.post("/explain", files={"file": ("d.png", digit_pngs[0][0], "image/png")}, data={"method": "gradcam"})
    assert r.status_code == 422 and "not finite" in r.json()["detail"], r.text


# --- item 6: a request head over the cap, even in one read ----------------------------------------

def test_oversized_request_head_is_431_even_when_complete(trained_run):
    from cnnlab.serve.server import running_server

    with running_server(trained_run) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
            reply = s.recv(200)
        assert reply.startswith(b"HTTP/1.1 431"), reply
        import httpx

        assert httpx.get(url + "/health").status_code == 200


# --- item 7: bounded model work ---------------------------------------------------------------------

class Slow(torch.nn.Module):
    """Sleeps before the forward pass: holds a worker long enough for the queue to fill."""

    def forward(self, x):
        time.sleep(1.0)  # long beside the threads' start-up, even on 2 busy cores
        return x


def test_full_queue_answers_503_and_the_rest_are_served(loaded, digit_pngs):
    import dataclasses
    import threading

    slow = dataclasses.replace(loaded, model=torch.nn.Sequential(Slow(), loaded.model).eval())
    client = TestClient(create_app(slow, workers=1, queue=1), base_url=LOCAL)
    codes, retry = [], []

    def upload():
        r = client.post("/predict", files={"file": ("d.png", digit_pngs[0][0], "image/png")})
        codes.append(r.status_code)
        retry.append(r.headers.get("retry-after"))

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(codes)) == [200, 503], codes
    assert codes.count(200) >= 2 and all(r == "1" for c, r in zip(codes, retry) if c == 503)
    assert client.get("/health").status_code == 200


# --- item 10: a decoder crash in a folder is one skipped file, not a failed command ----------------

def test_decoder_crash_in_a_folder_is_one_error_row_and_one_skipped_file(trained_run, tmp_path, digit_pngs, capsys):
    from cnnlab.cli import main

    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "imgs" / cls / f"{i}.png").write_bytes(digit_pngs[0][i])
    (tmp_path / "imgs" / "a" / "photo.png").write_bytes(dds_unknown_pixel_format())
    with pytest.raises(SystemExit) as done:
        main(["predict", str(trained_run), str(tmp_path / "imgs"), "--format", "json"])
    assert done.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    bad = [r for r in rows if r["path"].endswith("photo.png")]
    assert len(rows) == 7 and len(bad) == 1 and "not a readable image" in bad[0]["error"]
    with pytest.raises(SystemExit) as done:
        main(["data", "stats", "--data", str(tmp_path / "imgs")])
    out = "".join(capsys.readouterr().out.split())  # the console wraps long lines anywhere
    assert done.value.code == 0, out
    assert "1file(s)skipped" in out and "photo.png:notareadableimage" in out
