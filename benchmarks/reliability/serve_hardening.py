"""The web app as an attacker and a careless user meet it (issue 19): three rows of the matrix.

- Disclosure and injection: /report through symlinks and special files, foreign `Host` headers
  (DNS rebinding), class names that try to break out of the page's script, path traversal.
- Slow clients: thousands of idle half-open connections against a real `cnnlab serve` process;
  `/health` must keep answering in under a second, and stalled headers and bodies are closed.
- Large images and decoders: 8 concurrent 9,000×9,000 uploads under 1.5 GB of server memory,
  decoder crashes answered 4xx, a full queue answered 503, never a 500.

The slow-client and memory cases run the server as its own process (`python -m cnnlab serve`)
so that its file descriptors and resident memory are measured alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from reliability.matrix import Cases, Row, _env

LOCAL = "http://127.0.0.1"


# --- a server process ------------------------------------------------------------------------------

@contextlib.contextmanager
def server_process(run: Path, *args: str, startup_timeout: float = 120.0) -> Iterator[tuple[str, int]]:
    """`python -m cnnlab serve RUN ARGS` on a free port; yields (base URL, pid), stops it on exit."""
    import httpx

    from cnnlab.serve.server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cnnlab", "serve", str(run), "--port", str(port), *args],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_timeout
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"cnnlab serve exited {proc.returncode}: {proc.stderr.read()[-600:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"cnnlab serve did not answer within {startup_timeout:.0f} s")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of process `pid` in MB, from /proc (VmRSS, VmHWM)."""
    text = Path(f"/proc/{pid}/status").read_text()
    get = lambda key: int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) / 1024  # noqa: E731
    return get("VmRSS"), get("VmHWM")


def open_files_for(n: int) -> int:
    """Raise this process's open-files limit for `n` client sockets; how many it can open."""
    from cnnlab.serve.connections import raise_open_files_limit

    return max(0, raise_open_files_limit(n + 256) - 256)


# --- slow clients ----------------------------------------------------------------------------------

def half_open(url: str, n: int) -> list[socket.socket]:
    """n connections that each send a request line and one header, then nothing (the issue's case)."""
    host, port = url.removeprefix("http://").split(":")
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(s)
    return socks


def still_open(socks: list[socket.socket]) -> int:
    """How many of `socks` the server has not closed (a closed one reads EOF or a reset at once)."""
    import select

    open_count = 0
    for chunk in range(0, len(socks), 512):
        part = socks[chunk:chunk + 512]
        poller = select.poll()
        for s in part:
            poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
        ready = {fd for fd, _ in poller.poll(0)}
        open_count += sum(1 for s in part if s.fileno() not in ready)
    return open_count


def timed_health(url: str, timeout: float = 30.0) -> tuple[int, float]:
    """(status, seconds) of GET /health on a fresh connection."""
    import httpx

    start = time.perf_counter()
    try:
        status = httpx.get(url + "/health", timeout=timeout).status_code
    except httpx.HTTPError:
        status = 0
    return status, time.perf_counter() - start


def health_under_half_open(url: str, n: int) -> tuple[int, int, float]:
    """Open n half-open connections, then time /health: (held open, status, seconds).

    The timed request comes once the crowd is idle: a first, untimed /health waits behind the
    server's backlog of accepts (seconds on 2 busy cores), which is start-up, not the property."""
    socks = half_open(url, n)
    try:
        timed_health(url, timeout=60)  # settle: the server has accepted and parked every connection
        status, seconds = timed_health(url)
        held = still_open(socks)
    finally:
        for s in socks:
            s.close()
    return held, status, seconds


# --- large images ------------------------------------------------------------------------------------

def large_png(side: int = 9000, seed: int = 0) -> bytes:
    """A side×side RGB PNG with structure (gradients and bars) that compresses to a few MB at most."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, side, dtype=np.float32)
    img = np.empty((side, side, 3), np.uint8)
    img[..., 0] = x[None, :].astype(np.uint8)
    img[..., 1] = x[:, None].astype(np.uint8)
    img[..., 2] = 128
    for _ in range(6):
        top, left = rng.integers(0, side - side // 6, 2)
        img[top:top + side // 6, left:left + side // 20] = rng.integers(0, 255, 3)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def concurrent_uploads(url: str, data: bytes, n: int, name: str = "big.png") -> list[int]:
    """n uploads of `data` to /predict at once; their status codes (0: no answer)."""
    import httpx

    codes = [0] * n

    def one(i: int) -> None:
        try:
            codes[i] = httpx.post(url + "/predict", files={"file": (name, data, "image/png")}, timeout=300).status_code
        except httpx.HTTPError:
            codes[i] = 0

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def peak_memory_of_uploads(url: str, pid: int, data: bytes, n: int) -> tuple[list[int], float, float]:
    """n concurrent uploads while the server's memory is sampled: (codes, peak RSS MB, /health s).
    The peak is the process's high-water mark (VmHWM), start-up included."""
    peak = [rss_mb(pid)[0]]
    health = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid)[0])
            time.sleep(0.02)

    def probe() -> None:
        time.sleep(1.0)  # while the uploads are being decoded
        health[0] = timed_health(url)[1]

    sampler, prober = threading.Thread(target=sample), threading.Thread(target=probe)
    sampler.start()
    prober.start()
    codes = concurrent_uploads(url, data, n)
    prober.join()
    done.set()
    sampler.join()
    return codes, max(peak[0], rss_mb(pid)[1]), health[0]  # VmHWM: the kernel's own peak


# --- decoder crashes -------------------------------------------------------------------------------

def dds_unknown_pixel_format() -> bytes:
    """A DDS header with a made-up FourCC: Pillow's DDS plugin raises NotImplementedError."""
    header = b"DDS " + struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + b"\0" * 44
    return header + struct.pack("<2I4s5I", 32, 0x4, b"ABCD", 0, 0, 0, 0, 0) + b"\0" * 84


def foreign_format_files() -> dict[str, bytes]:
    """Valid files of formats PIL reads but cnnlab does not (each must be refused, not decoded)."""
    from PIL import Image

    out = {"dds-unknown-fourcc.png": dds_unknown_pixel_format()}
    img = Image.fromarray(np.full((16, 16, 3), 90, np.uint8))
    for fmt in ("ICO", "TGA", "PPM", "PCX", "SGI", "IM"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        out[f"{fmt.lower()}-as.png"] = buf.getvalue()
    return out


def mutated_images(n: int, seed: int = 0) -> list[bytes]:
    """Byte flips, truncations and splices of small PNG, JPEG, GIF, BMP, TIFF and WebP files."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    seeds = []
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        seeds.append(buf.getvalue())
    out = []
    for i in range(n):
        data = bytearray(seeds[i % len(seeds)])
        kind = i % 3
        if kind == 0:
            data = data[: rng.integers(1, len(data))]
        elif kind == 1:
            for _ in range(rng.integers(1, 12)):
                data[rng.integers(0, len(data))] = rng.integers(0, 256)
        else:
            at = rng.integers(0, len(data))
            data = data[:at] + bytes(rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8)) + data[at:]
        out.append(bytes(data))
    return out


# --- the rows ----------------------------------------------------------------------------------------

def _trained(workdir: Path) -> Path:
    from cnnlab.train import fit

    return fit(data="digits", model="mnist-tiny", epochs=1, limit=300, project=workdir, name="served",
               quiet=True, report=False).run_dir


def _with_class_names(run: Path, names: list[str]) -> Path:
    from cnnlab.run.checkpoint import load_checkpoint, save_checkpoint

    for ckpt in run.glob("*.pt"):
        state = load_checkpoint(ckpt)
        state["class_names"] = list(names)
        save_checkpoint({k: v for k, v in state.items() if k not in ("format", "version")}, ckpt)
    return run


XSS_NAMES = ["</script><script>document.title='XSS'</script>", "</SCRIPT ><img src=x onerror=alert(1)>",
             "<!--<script>", "]]></script>", "'\"`alert(1)//", "&lt;/script&gt;"]
# ("\u2028", a JavaScript line break, never reaches the page: the checkpoint loader refuses it.)


def disclosure_injection(workdir: Path) -> Row:
    """What the app serves and embeds: every case must refuse or escape."""
    from fastapi.testclient import TestClient

    from cnnlab.errors import CnnlabError
    from cnnlab.serve import create_app

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    base = _trained(workdir)
    secret = workdir / "secret.txt"
    secret.write_text("root:x:0:0:the secret")

    def report_case(kind: str):
        def case() -> str | None:
            run = workdir / f"report-{kind}"
            shutil.copytree(base, run)
            report = run / "report.html"
            report.unlink(missing_ok=True)
            if kind == "symlink to a file outside":
                report.symlink_to(secret)
            elif kind == "symlink to /etc/passwd":
                report.symlink_to("/etc/passwd")
            elif kind == "FIFO":
                os.mkfifo(report)
            elif kind == "folder":
                report.mkdir()
            elif kind == "symlink inside the run":
                (run / "elsewhere.html").write_text("<p>inside</p>")
                report.symlink_to(run / "elsewhere.html")
            client = TestClient(create_app(run), base_url=LOCAL)
            r = client.get("/report")
            if r.status_code != 404 or "secret" in r.text or "root:" in r.text:
                return f"answered {r.status_code}: {r.text[:80]}"
            return None
        return case

    for kind in ("symlink to a file outside", "symlink to /etc/passwd", "FIFO", "folder", "symlink inside the run"):
        cases.check(f"/report as a {kind}", report_case(kind))

    client = TestClient(create_app(base), base_url=LOCAL)
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil", "[::2]:80", ""):
        def host_case(host=host) -> str | None:
            r = client.get("/model", headers={"Host": host})
            return None if r.status_code == 400 else f"Host {host!r} answered {r.status_code}"

        cases.check(f"Host: {host!r}", host_case)
    for path in ("/report/../../etc/passwd", "/docs-static/../../../etc/passwd", "/docs-static/%2e%2e/%2e%2e/etc/passwd",
                 "/..%2f..%2fetc/passwd"):
        def traversal(path=path) -> str | None:
            r = client.get(path)
            return None if r.status_code in (400, 404) and "root:" not in r.text else f"answered {r.status_code}"

        cases.check(f"GET {path}", traversal)

    def xss_case() -> str | None:
        run = workdir / "xss"
        shutil.copytree(base, run)
        names = XSS_NAMES + [str(i) for i in range(len(XSS_NAMES), 10)]
        page = TestClient(create_app(_with_class_names(run, names)), base_url=LOCAL).get("/").text
        script = page[page.index("<script>"):]
        low = page.lower()
        if low.count("</script") != 1 or "<!--" in page or "<img src=x" in low:
            return "a class name broke out of the page script"
        return None if "document.title" in script and "\\u003c/script\\u003e" in script else "names not embedded"

    cases.check(f"{len(XSS_NAMES)} script-breaking class names in the page", xss_case)
    for label, bad in (("300 characters", "x" * 300), ("a NUL", "cat\x00"), ("a newline", "a\nb"), ("empty", ""),
                       ("a duplicate", "1")):
        def name_case(bad=bad, label=label) -> str | None:
            run = workdir / f"name-{len(cases.failures)}-{abs(hash(label))}"
            shutil.copytree(base, run)
            _with_class_names(run, [bad] + [str(i) for i in range(1, 10)])
            try:
                create_app(run)
                return "accepted"
            except CnnlabError as e:
                return None if "class_names[" in str(e) else f"message does not name the field: {e}"

        cases.check(f"class name with {label}", name_case)
    return cases.row("Disclosure and injection (web app: /report, Host, page script)",
                     "{passed}/{tried} refused (404/400) or escaped; nothing outside the run served", start)


def slow_clients(workdir: Path, connections: int = 5000, crowd: int = 10000) -> Row:
    """A `cnnlab serve` process under thousands of idle half-open connections."""
    from cnnlab.serve.connections import ConnectionLimits
    from cnnlab.serve.server import running_server

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    run = _trained(workdir)
    room = open_files_for(max(connections, crowd))
    figures: list[str] = []
    with server_process(run) as (url, _pid):
        def held_case(n: int = min(connections, room)) -> str | None:
            held, status, seconds = health_under_half_open(url, n)
            figures.append(f"/health {seconds * 1000:.0f} ms with {held:,} held")
            if status != 200 or seconds >= 1.0:
                return f"/health answered {status} in {seconds:.2f} s with {held} of {n} half-open held"
            return None if held >= 0.98 * n else f"only {held} of {n} half-open connections stayed open"

        cases.check(f"{min(connections, room)} half-open held, /health < 1 s", held_case)

        def crowd_case(n: int = min(crowd, room)) -> str | None:
            held, status, seconds = health_under_half_open(url, n)
            figures.append(f"{seconds * 1000:.0f} ms with {n:,} tried")
            return None if status == 200 and seconds < 1.0 else f"/health answered {status} in {seconds:.2f} s"

        cases.check(f"{min(crowd, room)} half-open (past the table), /health < 1 s", crowd_case)

    limits = ConnectionLimits(header_timeout=1.0, body_timeout=1.5, max_connections=200)
    with running_server(run, limits=limits) as url:
        host, port = url.removeprefix("http://").split(":")
        stalls = {
            "silent": b"",
            "request line and one header": b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            "one byte": b"G",
            "body never sent": b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n"
                               b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n",
        }
        for name, sent in stalls.items():
            def stall_case(sent=sent) -> str | None:
                s = socket.create_connection((host, int(port)))
                if sent:
                    s.sendall(sent)
                s.settimeout(6)
                t0 = time.monotonic()
                try:
                    while s.recv(4096):
                        pass
                except socket.timeout:
                    return "still open after 6 s"
                except ConnectionResetError:
                    pass
                finally:
                    s.close()
                waited = time.monotonic() - t0
                return None if waited < 4 else f"closed after {waited:.1f} s"

            cases.check(f"stalled client ({name}) closed by its deadline", stall_case)

        def dribble_case() -> str | None:
            # A header dribbled a byte every 0.2 s: each byte arrives in time, the whole never does.
            s = socket.create_connection((host, int(port)))
            t0 = time.monotonic()
            try:
                for byte in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200:
                    s.sendall(bytes([byte]))
                    time.sleep(0.2)
                    if time.monotonic() - t0 > 6:
                        return "still open after 6 s of dribbling"
            except (BrokenPipeError, ConnectionResetError):
                return None
            finally:
                s.close()
            return "the whole header was accepted"

        cases.check("header dribbled a byte at a time", dribble_case)

        def oversized_header() -> str | None:
            s = socket.create_connection((host, int(port)), timeout=10)
            try:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
                reply = s.recv(100)
            except (BrokenPipeError, ConnectionResetError):
                return None
            finally:
                s.close()
            return None if reply.startswith(b"HTTP/1.1 4") or not reply else f"answered {reply[:20]!r}"

        cases.check("100 kB header", oversized_header)
    return cases.row("Slow clients (half-open connections, stalled headers and bodies)",
                     "{passed}/{tried}: " + ", ".join(figures) + "; stalled clients closed by their deadlines",
                     start)


def large_images(workdir: Path, uploads: int = 8, side: int = 9000, mutated: int = 300) -> Row:
    """Large uploads, decoders that crash, a full work queue: bounded memory, 4xx/503, never 500."""
    from fastapi.testclient import TestClient

    from cnnlab.data.images import decode_image
    from cnnlab.errors import ImageLoadError
    from cnnlab.serve import create_app

    start = time.perf_counter()
    workdir = Path(workdir)
    cases = Cases()
    run = _trained(workdir)
    big = large_png(side)
    figures: list[str] = []
    with server_process(run) as (url, pid):
        def memory_case() -> str | None:
            codes, peak, health = peak_memory_of_uploads(url, pid, big, uploads)
            figures.append(f"peak RSS {peak:,.0f} MB, /health {health * 1000:.0f} ms during {uploads} uploads")
            if codes != [200] * uploads:
                return f"answers {codes}"
            if peak >= 1536:
                return f"server RSS peaked at {peak:.0f} MB"
            return None if health < 1.0 else f"/health took {health:.1f} s during the uploads"

        cases.check(f"{uploads} concurrent {side}×{side} uploads: < 1.5 GB, /health < 1 s", memory_case)
    client = TestClient(create_app(run), base_url=LOCAL)
    for name, data in foreign_format_files().items():
        def foreign(name=name, data=data) -> str | None:
            r = client.post("/predict", files={"file": (name, data, "image/png")})
            return None if r.status_code in (400, 415) and name in r.text else f"answered {r.status_code}"

        cases.check(f"upload {name}", foreign)
    files = mutated_images(mutated)

    def mutated_case() -> str | None:
        bad = []
        for i, data in enumerate(files):
            try:
                decode_image(data, f"m{i}.png")
            except ImageLoadError:
                pass
            except Exception as e:  # noqa: BLE001 - what the case looks for
                bad.append(f"m{i}: {type(e).__name__}")
            r = client.post("/predict", files={"file": (f"m{i}.png", data, "image/png")})
            if r.status_code not in (200, 400, 415):
                bad.append(f"m{i}: HTTP {r.status_code}")
        return "; ".join(bad[:4]) or None

    cases.check(f"{mutated} mutated PNG/JPEG/GIF/BMP/TIFF/WebP files: decoded or 4xx", mutated_case)

    def queue_case() -> str | None:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.full((3000, 3000), 200, np.uint8)).save(buf, "PNG")
        with contextlib.ExitStack() as stack:
            from cnnlab.serve.server import running_server

            served = stack.enter_context(running_server(run, workers=1, queue=1))
            codes = concurrent_uploads(served, buf.getvalue(), 12)
        if any(c not in (200, 503) for c in codes):
            return f"answers {codes}"
        return None if 503 in codes and 200 in codes else f"answers {codes} (expected some 503 and some 200)"

    cases.check("12 uploads at once, 1 worker and a queue of 1: 200 or 503", queue_case)
    return cases.row("Large images and decoders (web app)",
                     "{passed}/{tried}: " + ", ".join(figures) + "; refused with 4xx or 503, never 500", start)
