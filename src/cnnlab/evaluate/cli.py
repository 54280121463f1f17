"""The `cnnlab evaluate`, `cnnlab predict` and `cnnlab export` verbs: thin layers over
`cnnlab.evaluate.evaluate`, `predict` and `export`, registered by `register(app)`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


def evaluate_cmd(
    runs: list[Path] = typer.Argument(..., help="Run folder(s) or checkpoint(s); several make an ensemble"),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Data source or image folder "
                                       "[default: the run's own data]"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Root of the built-in data sets"),
    split: str = typer.Option("test", "--split", help="test, val or train"),
    vote: str = typer.Option("soft", "--vote", help="Ensembles: soft (average probabilities) or majority"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the files "
                                       "[default: RUN/evaluation, RUN/evaluation-ensemble]"),
    top_losses: int = typer.Option(16, "--top-losses", help="Images in the top-losses gallery"),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many images per split"),
    classes: Optional[str] = typer.Option(None, "--classes", help="Keep only these comma-separated classes"),
    tta: bool = typer.Option(False, "--tta", help="Average with horizontally flipped images"),
) -> None:
    """Accuracy, top-5, loss, per-class metrics, confusion matrix and galleries of a run (or an ensemble)."""
    from cnnlab.cli import data_options
    from cnnlab.evaluate import evaluate

    opts = data_options(None, data_root, limit=limit, classes=classes)
    result = evaluate([str(r) for r in runs], data=data, split=split, out=out, vote=vote, top_losses=top_losses,
                      tta=tta, **opts)
    print_evaluation(result)


def print_evaluation(result) -> None:
    """The rich tables of an evaluation: members (ensembles), per-class metrics, the summary."""
    if result.members:
        members = Table(title=f"ensemble of {len(result.members)} ({result.vote} vote)", title_justify="left")
        for col in ("run", "accuracy", "loss"):
            members.add_column(col, justify="left" if col == "run" else "right")
        for m in result.members:
            members.add_row(escape(m["name"]), f"{m['accuracy']:.4f}", f"{m['loss']:.4f}")
        members.add_row("[bold]ensemble", f"[bold]{result.accuracy:.4f}", f"[bold]{result.loss:.4f}")
        console.print(members)
    table = Table(title=f"{result.data} ({result.split}, {len(result.labels):,} images)", title_justify="left")
    for col in ("class", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in result.per_class:
        table.add_row(escape(row["class"]), f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}",
                      f"{row['support']:,}")
    table.add_section()
    for name, avg in (("macro avg", result.macro), ("weighted avg", result.weighted)):
        table.add_row(f"[bold]{name}", f"{avg['precision']:.4f}", f"{avg['recall']:.4f}", f"{avg['f1']:.4f}",
                      f"{avg['support']:,}")
    console.print(table)
    top5 = f", top-5 {result.top5:.4f}" if result.top5 is not None else ""
    console.print(f"[bold]accuracy {result.accuracy:.4f}[/bold]{top5}, loss {result.loss:.4f}", highlight=False)
    if result.most_confused:
        pairs = ", ".join(f"{t} → {p} ({n})" for t, p, n in result.most_confused[:5])
        console.print(f"most confused (true → predicted): {pairs}", highlight=False)
    console.print(f"files written to [bold]{result.out_dir}[/bold]")


def predict_cmd(
    source: str = typer.Argument(..., help="Run folder, checkpoint, or an exported MODEL.onnx"),
    paths: list[Path] = typer.Argument(..., help="Image files or folders (searched recursively)"),
    top_k: int = typer.Option(5, "--top-k", "-k", help="Classes shown per image"),
    format: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
    tta: bool = typer.Option(False, "--tta", help="Average with the horizontally flipped image"),
) -> None:
    """Top-k classes with probabilities for image files and folders.

    An unreadable file gets an error row naming it; the others are still predicted. Exit code 0
    when at least one file was predicted, 1 when none could be, 2 for bad arguments.
    """
    from cnnlab.errors import ConfigError
    from cnnlab.evaluate.predict import predict, rows_to_csv, rows_to_json

    if format not in ("table", "csv", "json"):
        raise ConfigError(f"--format: {format!r} (expected table, csv or json)")
    rows = predict(source, paths, top_k=top_k, tta=tta)
    if format == "csv":
        sys.stdout.write(rows_to_csv(rows, top_k))
    elif format == "json":
        sys.stdout.write(rows_to_json(rows) + "\n")
    else:
        table = Table(title=f"{source}: top {top_k}", title_justify="left")
        table.add_column("file", overflow="fold")
        table.add_column("prediction", overflow="fold")
        for r in rows:
            text = (escape(", ".join(f"{c} {p:.3f}" for c, p in r.top)) if r.ok
                    else f"[red]error: {escape(r.error)}[/red]")
            table.add_row(escape(r.path), text)
        console.print(table)
    if not any(r.ok for r in rows):
        raise typer.Exit(1)


def export_cmd(
    run: Path = typer.Argument(..., help="Run folder or checkpoint"),
    format: str = typer.Option("onnx", "--format", "-f", help="onnx or torchscript"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Model file or folder [default: RUN/export/]"),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="Largest max-abs difference of the logits accepted"),
) -> None:
    """Write the model as ONNX or TorchScript plus a JSON of class names and preprocessing.

    The export is checked against the PyTorch model on real images at batch sizes 1 and 8."""
    from cnnlab.evaluate.export import export

    r = export(run, format=format, out=out, tolerance=tolerance)
    console.print(f"{r.format} model: [bold]{r.path}[/bold]\nsidecar: {r.sidecar}")
    console.print(f"parity: max abs diff {r.max_abs_diff:.2e} ≤ {tolerance:g} on {r.inputs}, "
                  f"batch sizes {r.batch_sizes}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the three verbs to the `cnnlab` app."""
    app.command("evaluate")(evaluate_cmd)
    app.command("predict")(predict_cmd)
    app.command("export")(export_cmd)
