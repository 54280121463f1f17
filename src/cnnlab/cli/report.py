"""`cnnlab report RUN`: the command-line face of `cnnlab.report.build_report`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer()


@app.command("report")
def report(
    run: Path = typer.Argument(..., help="Run folder (runs/NAME) or checkpoint file"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write", show_default="RUN/report.html"),
) -> None:
    """(Re)build a run's self-contained HTML report: config, model, curves, metrics, predictions, Grad-CAM."""
    from cnnlab.report import build_report

    path = build_report(run, out)
    typer.echo(f"report written to {path} ({path.stat().st_size / 1e6:.1f} MB)")
