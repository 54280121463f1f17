"""`cnnlab serve RUN`: the command-line face of `cnnlab.serve.serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cnnlab.cli.help import api_default, help_from

app = typer.Typer()


@app.command("serve", cls=help_from("cnnlab.serve:serve"))
def serve(
    run: Path = typer.Argument(..., help="Run folder (runs/NAME) or checkpoint file"),
    host: Optional[str] = typer.Option(None, "--host", help="Interface to bind; 0.0.0.0 exposes the app to the network"),
    port: Optional[int] = typer.Option(None, "--port", help="TCP port"),
    max_upload_mb: Optional[float] = typer.Option(None, "--max-upload-mb", help="Larger uploads get 413"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Uploads decoded and run at once "
                                          "(16 more wait; past that, 503)"),
) -> None:
    """Serve a local web app: drop an image, see the top classes, Grad-CAM and feature maps."""
    from cnnlab.serve import serve as serve_run

    host = api_default(serve_run, "host") if host is None else host
    port = api_default(serve_run, "port") if port is None else port
    typer.echo(f"serving {run} on http://{host}:{port}  (API docs: /docs, report: /report; Ctrl-C stops)")
    options = {"max_upload_mb": max_upload_mb, "workers": workers}
    serve_run(run, host=host, port=port, **{k: v for k, v in options.items() if v is not None})
