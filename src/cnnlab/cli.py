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
