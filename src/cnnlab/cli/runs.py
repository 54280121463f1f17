"""`cnnlab runs [DIR]`: a table of the runs under a folder, to compare experiments."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import typer

from cnnlab.cli.console import console
from cnnlab.errors import CnnlabError

app = typer.Typer()

HEADERS = {"name": "name", "model": "model", "data": "data", "epochs": "epochs", "best_val_acc": "val acc",
           "best_val_loss": "val loss", "test_acc": "test acc", "wall_s": "wall", "status": "status"}


@app.command("runs")
def runs(
    folder: Path = typer.Argument(Path("runs"), help="Folder of run folders (the --project of training)"),
    sort: str = typer.Option("name", "--sort", "-s", help="Column to sort by: name, model, data, epochs, "
                             "best_val_acc, best_val_loss, test_acc, wall_s, status (metrics: best first)"),
    format: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
) -> None:
    """Compare runs: name, model, data, epochs, best validation accuracy and loss, test accuracy,
    wall time and status, one row per run folder."""
    from cnnlab.run.listing import COLUMNS, list_runs

    if format not in ("table", "csv", "json"):
        raise CnnlabError(f"--format: {format!r} (expected table, csv or json)")
    rows = list_runs(folder, sort=sort)
    if format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(COLUMNS) + ["epochs_planned"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    from rich import box
    from rich.table import Table

    # Light rules keep nine columns inside 80 characters; val acc/loss are each run's best epoch.
    table = Table(title=f"{len(rows)} run(s) in {folder} (val: the best epoch's)", title_justify="left",
                  header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    numbers = ("epochs", "best_val_acc", "best_val_loss", "test_acc", "wall_s")
    for key, header in HEADERS.items():
        # a long model or folder name folds onto a second line rather than losing its end to "…"
        short = key in ("name", "status")  # kept whole: what a row is, and how it ended
        table.add_column(header, justify="right" if key in numbers else "left",
                         overflow="ellipsis" if key in numbers else "fold", no_wrap=short,
                         min_width=max((len(str(r[key])) for r in rows), default=4) if short else None)
    for r in rows:
        table.add_row(r["name"], r["model"] or "", r["data"] or "", _epochs(r), _num(r["best_val_acc"]),
                      _num(r["best_val_loss"]), _num(r["test_acc"]), _duration(r["wall_s"]), r["status"])
    console.print(table)


def _num(value) -> str:
    return "" if value is None else f"{value:.3f}"


def _epochs(row) -> str:
    done, planned = row["epochs"], row["epochs_planned"]
    return "" if done is None else f"{done}/{planned}" if planned is not None else str(done)


def _duration(seconds) -> str:
    if seconds is None:
        return ""
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes}m{s:02d}s" if minutes else f"{s}s"
