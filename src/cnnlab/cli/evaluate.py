"""`cnnlab evaluate`, `cnnlab predict` and `cnnlab export`: thin layers over
`cnnlab.evaluate.evaluate`, `predict` and `export`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from cnnlab.cli.console import console
from cnnlab.cli.help import api_default, help_from
from cnnlab.cli.options import takes_settings

app = typer.Typer()


@app.command("evaluate", cls=help_from("cnnlab.evaluate:evaluate"))
@takes_settings(["data", "data_root", "limit", "classes"], helps={"data": "Data source or image folder"},
                defaults={"data": "the run's own data", "data_root": "the run's own", "limit": "all",
                          "classes": "all"})
def evaluate(
    runs: list[Path] = typer.Argument(..., help="Run folder(s) or checkpoint(s); several make an ensemble"),
    split: Optional[str] = typer.Option(None, "--split", help="test, val or train"),
    vote: Optional[str] = typer.Option(None, "--vote", help="Ensembles: soft (average probabilities) or majority"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the files",
                                       show_default="RUN/evaluation; several runs: runs/ensemble-A+B+C"),
    top_losses: Optional[int] = typer.Option(None, "--top-losses", help="Images in the top-losses gallery"),
    tta: bool = typer.Option(False, "--tta", help="Average with horizontally flipped images"),
    *, settings: dict,
) -> None:
    """Accuracy, top-5, loss, per-class metrics, confusion matrix and galleries of a run (or an ensemble)."""
    from cnnlab.evaluate import evaluate as evaluate_runs

    given = {k: v for k, v in {"split": split, "vote": vote, "top_losses": top_losses}.items() if v is not None}
    result = evaluate_runs([str(r) for r in runs], out=out, tta=tta, **given, **settings)
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


@app.command("predict", cls=help_from("cnnlab.evaluate:predict"))
def predict(
    source: str = typer.Argument(..., help="Run folder, checkpoint, or an exported MODEL.onnx"),
    paths: list[Path] = typer.Argument(..., help="Image files or folders (searched recursively)"),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", help="Classes shown per image"),
    format: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
    tta: bool = typer.Option(False, "--tta", help="Average with the horizontally flipped image"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Files scored per batch (memory is bounded "
                                             "by it)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes decoding files",
                                          show_default="0 for a few files, else up to 4"),
) -> None:
    """Top-k classes with probabilities for image files and folders.

    An unreadable file gets an error row naming it; the others are still predicted. Exit code 0
    when at least one file was predicted, 1 when none could be, 2 for bad arguments.
    """
    from cnnlab.errors import ConfigError
    from cnnlab.evaluate import predict as predict_files
    from cnnlab.evaluate.prediction import rows_to_csv, rows_to_json

    if format not in ("table", "csv", "json"):
        raise ConfigError(f"--format: {format!r} (expected table, csv or json)")
    if top_k is None:
        top_k = api_default(predict_files, "top_k")
    options = {"batch_size": batch_size, "workers": workers}
    rows = predict_files(source, paths, top_k=top_k, tta=tta, **{k: v for k, v in options.items() if v is not None})
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


@app.command("export", cls=help_from("cnnlab.evaluate:export"))
def export(
    run: Path = typer.Argument(..., help="Run folder or checkpoint"),
    format: Optional[str] = typer.Option(None, "--format", "-f", help="onnx or torchscript"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Model file or folder", show_default="RUN/export/"),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", help="Largest max-abs difference of the logits "
                                              "accepted"),
) -> None:
    """Write the model as ONNX or TorchScript plus a JSON of class names and preprocessing.

    The export is checked against the PyTorch model on real images at batch sizes 1 and 8."""
    from cnnlab.evaluate import export as export_model

    if tolerance is None:
        tolerance = api_default(export_model, "tolerance")
    r = export_model(run, out=out, tolerance=tolerance, **({"format": format} if format else {}))
    console.print(f"{r.format} model: [bold]{r.path}[/bold]\nsidecar: {r.sidecar}")
    console.print(f"parity: max abs diff {r.max_abs_diff:.2e} ≤ {tolerance:g} on {r.inputs}, "
                  f"batch sizes {r.batch_sizes}", highlight=False)
