"""`cnnlab serve RUN`: the command-line face of `cnnlab.serve.serve`."""

from __future__ import annotations

from pathlib import Path

import typer


def serve_command(
    run: Path = typer.Argument(..., help="Run folder (runs/NAME) or checkpoint file"),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind; 0.0.0.0 exposes the app to the network"),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="Larger uploads get 413"),
) -> None:
    """Serve a local web app: drop an image, see the top classes, Grad-CAM and feature maps."""
    from cnnlab.serve import serve

    typer.echo(f"serving {run} on http://{host}:{port}  (API docs: /docs, report: /report; Ctrl-C stops)")
    serve(run, host=host, port=port, max_upload_mb=max_upload_mb)
