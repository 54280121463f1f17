"""Running the app with uvicorn: in the foreground (`cnnlab serve`) or in a background thread
(tests and the load benchmark), always on localhost unless told otherwise, always with the
connection limits of `cnnlab.serve.connections` (header/body deadlines, a bounded table)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

import uvicorn

from cnnlab.errors import CnnlabError
from cnnlab.serve.connections import ConnectionLimits, uvicorn_settings


def serve(run, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 10,
          log_level: str = "info", workers: int = 2, limits: ConnectionLimits | None = None) -> None:
    """Serve the web app of `run` until interrupted (binds to 127.0.0.1 by default).

    `workers` uploads are decoded and run at once (more wait, then get 503); `limits` bounds
    what slow or idle clients can hold (default: ConnectionLimits())."""
    from cnnlab.serve.app import create_app

    app = create_app(run, max_upload_mb=max_upload_mb, host=host, workers=workers)
    uvicorn.run(app, host=host, port=port, log_level=log_level, **uvicorn_settings(limits or ConnectionLimits()))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(run, host: str = "127.0.0.1", port: int | None = None, max_upload_mb: float = 10,
                   startup_timeout: float = 60.0, limits: ConnectionLimits | None = None,
                   workers: int = 2, queue: int = 16) -> Iterator[str]:
    """Start the app in a background thread; yields its base URL and stops it on exit.

        with running_server("runs/exp") as url:
            httpx.get(url + "/health")
    """
    from cnnlab.serve.app import create_app

    app = create_app(run, max_upload_mb=max_upload_mb, host=host, workers=workers, queue=queue)
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           **uvicorn_settings(limits or ConnectionLimits())))
    thread = threading.Thread(target=server.run, name=f"cnnlab-serve-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise CnnlabError(f"the web app did not start on {host}:{port} within {startup_timeout:.0f} s "
                              "(is the port taken?)")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
