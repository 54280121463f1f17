"""`cnnlab scratch train`: the NumPy engine of workflow 5 (im2col and hand-written backward passes)."""

from __future__ import annotations

from typing import Optional

import typer

from cnnlab.cli.console import console
from cnnlab.cli.help import help_from

app = typer.Typer()
scratch_app = typer.Typer(name="scratch", help="The NumPy CNN engine: im2col, hand-written backward passes, "
                                              "trained on the 8×8 digits.", no_args_is_help=True)
app.add_typer(scratch_app)


@scratch_app.command("train", cls=help_from("cnnlab.scratch.train:train_digits"))
def train(
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
