"""`cnnlab models` and `cnnlab summary`: the model presets and the per-layer table of one."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape

from cnnlab.cli.console import console
from cnnlab.cli.help import help_from
from cnnlab.shapes import as_chw

app = typer.Typer()


@app.command("models")
def models(
    filter: Optional[str] = typer.Option(None, "--filter", help="Only names or descriptions containing this text."),
) -> None:
    """List the model presets with their natural input and description."""
    from rich.table import Table

    # The catalogue reads the preset declarations without importing torch: this answers at once.
    from cnnlab.models.catalogue import families, list_presets

    infos = list_presets(filter)
    table = Table(title="cnnlab models", title_justify="left", header_style="bold")
    for column in ("Name", "Input", "Classes", "Description"):
        table.add_column(column, no_wrap=column != "Description")
    for info in infos:
        table.add_row(info.name, f"{info.in_channels}×{info.input_size[0]}×{info.input_size[1]}",
                      str(info.num_classes), info.description)
    if infos:
        console.print(table)
    else:
        console.print(f"no preset matches {filter!r}")
    for pattern, description in families().items():
        console.print(f"[bold]{pattern}[/bold]: {escape(description)}", highlight=False)


@app.command("summary", cls=help_from("cnnlab.models:summary"))
def summary(
    model: str = typer.Argument(..., help="A registry name (cnnlab models), spec:<pattern>, "
                                "torchvision:<name> or timm:<name>."),
    input_shape: Optional[str] = typer.Option(None, "--input", help="C×H×W, e.g. 3x224x224",
                                             show_default="the model's natural input"),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Output classes.",
                                              show_default="the model's own"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size for the memory estimate."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam, adamw, sgd (momentum), rmsprop or "
                                            "none: its state counts in the training memory."),
) -> None:
    """Print the per-layer table (output shape, values, memory, weights, mult-adds) and totals."""
    from rich.console import Console

    from cnnlab.models import summary as model_summary

    options = {"input_shape": None if input_shape is None else as_chw(input_shape, "--input"),
               "num_classes": num_classes, "batch_size": batch_size, "optimizer": optimizer}
    result = model_summary(model, **{k: v for k, v in options.items() if v is not None})
    # The table needs about 120 columns; when piped (no terminal width to respect) print it
    # whole instead of at rich's default 80.
    out = console if console.is_terminal else Console(width=max(console.width, 130))
    out.print(result.to_table())
    out.print(result.totals_table())
