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


# --- scratch: the NumPy engine of workflow 5 (issue 8) ---------------------------------------
scratch_app = typer.Typer(help="The NumPy CNN engine: im2col, hand-written backward passes, "
                               "trained on the 8×8 digits.", no_args_is_help=True)
app.add_typer(scratch_app, name="scratch")


@scratch_app.command("train")
def scratch_train(
    epochs: Optional[int] = typer.Option(None, help="Passes over the training set."),
    lr: Optional[float] = typer.Option(None, help="SGD learning rate."),
    batch_size: Optional[int] = typer.Option(None, help="Images per step."),
    seed: Optional[int] = typer.Option(None, help="Seeds the split, weights and shuffling."),
) -> None:
    """Train a small CNN on scikit-learn's 8×8 digits with the NumPy engine."""
    from cnnlab.scratch.train import train_digits

    given = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed}
    result = train_digits(**{k: v for k, v in given.items() if v is not None},
                          log=lambda line: console.print(line, highlight=False))
    console.print(f"[bold]test accuracy {result.test_accuracy:.4f}[/bold] "
                  f"({len(result.history)} epochs, {result.seconds:.1f} s)", highlight=False)
