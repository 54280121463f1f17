"""The web app under load and abuse: concurrent uploads, oversized and chunked bodies, slow
clients, malformed multipart, the bad-image corpus. Status codes must be right, memory bounded,
and the server must keep answering."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from reliability.matrix import Cases, Row


def _rss_mb() -> float:
    """Resident memory of this process (the server runs in a thread of it), in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 2**20


def _raw_request(host: str, port: int, head: bytes, body_parts: list[bytes], pause: float = 0.0,
                 timeout: float = 20.0) -> int:
    """Send a hand-made HTTP request (optionally dribbling the body); return the status code (0: none)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(head)
        try:
            for part in body_parts:
                s.sendall(part)
                if pause:
                    time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early, as it should for an oversized body
        try:
            reply = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return 0
    try:
        return int(reply.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def webapp_abuse(workdir: Path, requests: int = 200, clients: int = 8) -> Row:
    """Start the app on a trained digits model and abuse it; every case checks status and health."""
    import httpx

    from cnnlab.inference import predict_proba
    from reliability.image_corpus import write_bad_images
    from cnnlab.serve.loadtest import digit_pngs, load_test
    from cnnlab.serve.server import running_server
    from cnnlab.train import fit, load_model

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    run = fit(data="digits", model="mnist-tiny", epochs=2, project=workdir, name="served", quiet=True).run_dir
    loaded = load_model(run)
    images = digit_pngs(30)
    expected = [loaded.class_names[int(i)] for i in predict_proba(loaded, images).argmax(1)]
    limit_mb = 1
    with running_server(run, max_upload_mb=limit_mb) as url:
        host, port = url.removeprefix("http://").split(":")
        port = int(port)
        client = httpx.Client(base_url=url, timeout=30)

        def healthy() -> str | None:
            r = client.get("/health")
            return None if r.status_code == 200 else f"/health answered {r.status_code}"

        def concurrent() -> str | None:
            result = load_test(url, images, expected, requests=requests, clients=clients)
            if result.correct != requests:
                return f"{result.correct}/{requests} correct: {result.errors[:2]}"
            return healthy()

        cases.check(f"{requests} uploads from {clients} concurrent clients", concurrent)

        big = b"\x89PNG" + b"0" * (limit_mb * 2**20 + 10)

        def oversized() -> str | None:
            r = client.post("/predict", files={"file": ("big.png", big, "image/png")})
            return None if r.status_code == 413 else f"answered {r.status_code}"

        cases.check("oversized body (Content-Length)", oversized)

        def chunked() -> str | None:
            body = (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
                    b"Content-Type: image/png\r\n\r\n" + big + b"\r\n--xyz--\r\n")
            r = client.post("/predict", content=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                            headers={"content-type": "multipart/form-data; boundary=xyz"})
            return None if r.status_code == 413 else f"answered {r.status_code}"

        cases.check("oversized body, chunked (no Content-Length)", chunked)

        def memory() -> str | None:
            before = _rss_mb()
            for _ in range(30):
                client.post("/predict", files={"file": ("big.png", big, "image/png")})
            grown = _rss_mb() - before
            return None if grown < 64 else f"memory grew {grown:.0f} MB over 30 oversized uploads"

        cases.check("memory bounded over 30 oversized uploads", memory)

        malformed = {
            "no boundary": (b"multipart/form-data", b"garbage"),
            "wrong boundary": (b"multipart/form-data; boundary=abc", b"--zzz\r\n\r\nnothing\r\n--zzz--\r\n"),
            "truncated part": (b"multipart/form-data; boundary=abc",
                               b"--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n\x89PN"),
            "no file field": (b"multipart/form-data; boundary=abc",
                              b"--abc\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--abc--\r\n"),
            "not multipart": (b"application/json", b'{"file": "x"}'),
        }
        for name, (ctype, body) in malformed.items():
            def bad_multipart(ctype=ctype, body=body) -> str | None:
                head = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + ctype +
                        b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
                code = _raw_request(host, port, head, [body])
                if not 400 <= code < 500:
                    return f"answered {code}, expected a 4xx"
                return healthy()

            cases.check(f"malformed multipart: {name}", bad_multipart)

        def slow_clients() -> str | None:
            # Four clients dribble a body a few bytes at a time; the others must still be served.
            body = (b"--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
                    b"Content-Type: image/png\r\n\r\n" + images[0] + b"\r\n--abc--\r\n")
            head = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=abc\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
            codes: list[int] = []
            slow = [threading.Thread(target=lambda: codes.append(
                _raw_request(host, port, head, [body[i:i + 16] for i in range(0, len(body), 16)], pause=0.02)))
                for _ in range(4)]
            for t in slow:
                t.start()
            time.sleep(0.2)
            t0 = time.perf_counter()
            r = client.post("/predict", files={"file": ("a.png", images[1], "image/png")})
            waited = time.perf_counter() - t0
            for t in slow:
                t.join(60)
            if r.status_code != 200 or r.json()["prediction"]["class"] != expected[1]:
                return f"a normal request during slow uploads answered {r.status_code}"
            if waited > 10:
                return f"a normal request waited {waited:.1f} s behind slow clients"
            return None if codes == [200] * 4 else f"slow clients got {codes}"

        cases.check("4 slow clients while others are served", slow_clients)

        corpus = write_bad_images(workdir / "bad")
        for name, outcome in corpus.items():
            def bad_image(name=name, outcome=outcome) -> str | None:
                data = (workdir / "bad" / name).read_bytes()
                r = client.post("/predict", files={"file": (name, data, "application/octet-stream")})
                if outcome == "load":
                    return None if r.status_code == 200 else f"answered {r.status_code}: {r.text[:100]}"
                if r.status_code not in (400, 413, 415):
                    return f"answered {r.status_code}, expected 400/415"
                return healthy()

            cases.check(f"upload {name}", bad_image)
        client.close()
    return cases.row("Web app under load and abuse",
                     "{passed}/{tried} with the right status, memory bounded, server kept answering", start)
