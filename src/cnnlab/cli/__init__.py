"""The `cnnlab` command: one verb per workflow, each a thin call into the Python API.

Each module of this package holds one group of verbs as a `typer.Typer` named `app`, and all
are attached the same way, below. Defaults live in the API functions and in the declared
settings (`cnnlab.settings`), not here: options left unset are not passed on, and `--help`
shows the defaults read from there. The modules import nothing heavy (no torch) at import
time, so `cnnlab --help` and `cnnlab version` answer at once; each verb imports what it needs.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from cnnlab.cli import bench, data, evaluate, explain, models, recipes, report, runs, scratch, serve, train
from cnnlab.cli.console import console, err_console
from cnnlab.errors import CnnlabError

app = typer.Typer(help="cnnlab: convolutional image classifiers, from data to explanations.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

for verbs in (data, train, recipes, runs, models, evaluate, explain, report, serve, bench, scratch):
    app.add_typer(verbs.app)


@app.command()
def version() -> None:
    """Print the cnnlab version."""
    from cnnlab import __version__

    console.print(__version__)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `cnnlab` command: user errors print one clear message and exit 2."""
    try:
        app(args=argv, prog_name="cnnlab")
    except CnnlabError as e:
        err_console.print(f"[bold red]error:[/bold red] {escape(str(e))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
