"""The `cnnlab` command: one verb per workflow, each a thin call into the Python API.

Defaults live in the API functions (and their config dataclasses), not here: options left
unset on the command line are simply not passed on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from cnnlab.errors import CnnlabError

console = Console()
app = typer.Typer(help="cnnlab: convolutional image classifiers, from data to explanations.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Inspect and prepare data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `cnnlab` command: user errors print one clear message and exit 2."""
    try:
        app(args=argv, prog_name="cnnlab")
    except CnnlabError as e:
        console.print(f"[bold red]error:[/bold red] {e}", highlight=False)
        sys.exit(2)


@app.command()
def version() -> None:
    """Print the cnnlab version."""
    from cnnlab import __version__

    console.print(__version__)


# --- models (issue 3): `cnnlab models`, `cnnlab summary` -------------------------------------

@app.command("models")
def models_command(
    filter: Optional[str] = typer.Option(None, "--filter", help="Only names or descriptions "
                                         "containing this text."),
) -> None:
    """List the model presets with their natural input and description."""
    from rich.table import Table

    from cnnlab.models import list_models, model_families, model_info

    names = list_models(filter)
    table = Table(title="cnnlab models", title_justify="left", header_style="bold")
    for column in ("Name", "Input", "Classes", "Description"):
        table.add_column(column, no_wrap=column != "Description")
    for name in names:
        info = model_info(name)
        table.add_row(name, f"{info.in_channels}×{info.input_size[0]}×{info.input_size[1]}",
                      str(info.num_classes), info.description)
    if names:
        console.print(table)
    else:
        console.print(f"no preset matches {filter!r}")
    for pattern, description in model_families().items():
        console.print(f"[bold]{pattern}[/bold]: {description}", highlight=False)


@app.command("summary")
def summary_command(
    model: str = typer.Argument(..., help="A registry name (cnnlab models), spec:<pattern>, "
                                "torchvision:<name> or timm:<name>."),
    input_size: Optional[str] = typer.Option(None, "--input", help="C×H×W, e.g. 3x224x224 "
                                             "(default: the model's natural input)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Output classes."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Batch size for the "
                                             "memory estimate (default 1)."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam, adamw, sgd "
                                            "(momentum), rmsprop or none (default adam)."),
) -> None:
    """Print the per-layer table (output shape, values, memory, weights, mult-adds) and totals."""
    from cnnlab.models import summary

    options = {"input_size": input_size, "num_classes": num_classes, "batch_size": batch_size,
               "optimizer": optimizer}
    result = summary(model, **{k: v for k, v in options.items() if v is not None})
    # The table needs about 120 columns; when piped (no terminal width to respect) print it
    # whole instead of at rich's default 80.
    out = console if console.is_terminal else Console(width=max(console.width, 130))
    out.print(result.to_table())
    out.print(result.totals_table())
