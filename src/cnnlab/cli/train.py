"""`cnnlab train` and `cnnlab lr-find`: their setting options are generated from the declared
settings (`cnnlab.settings`); only the verbs' own options are written here."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cnnlab.cli.console import console
from cnnlab.cli.help import augment_presets, help_from
from cnnlab.cli.options import takes_settings
from cnnlab.errors import CnnlabError

app = typer.Typer()


def model_kwargs(items: list[str]) -> dict:
    """--model-arg key=value (repeatable); values are read as YAML scalars (numbers, true, text)."""
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise CnnlabError(f"--model-arg: {item!r} (expected key=value, e.g. dropout=0.5)")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


@app.command("train", cls=help_from(epilog=augment_presets))
@takes_settings(with_set=True)
def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (a recipe or a run's config.yaml)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue runs/NAME from its last checkpoint"),
    model_arg: Optional[list[str]] = typer.Option(None, "--model-arg", help="Model option key=value (repeatable)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors"),
    smoke: bool = typer.Option(False, "--smoke", help="Check the config in seconds: one epoch of a few batches "
                                                       "(stand-in images when the data is absent)"),
    *, settings: dict,
) -> None:
    """Train a model; writes runs/NAME with config, history, checkpoints, curves, metrics and report.html.

    Every setting is an option below (or `--set key=value`); options given override the --config file.
    """
    from cnnlab.pipeline import train_and_report

    if model_arg:
        settings["model_kwargs"] = model_kwargs(model_arg)
    if resume is not None:
        train_and_report(resume=resume, quiet=quiet, **settings)
        return
    if config is None:  # a photo folder gets a pretrained model; --transfer finetune its recipe
        from cnnlab.train.folder_default import chosen_defaults

        settings, note = chosen_defaults(settings)
        if note and not quiet:
            console.print(note, highlight=False, soft_wrap=True)
    train_and_report(config, quiet=quiet, smoke=smoke, **settings)


@app.command("lr-find", cls=help_from("cnnlab.train.lr_find:lr_find", epilog=augment_presets))
@takes_settings(["data", "data_root", "image_size", "limit", "model", "optimizer", "batch_size", "augment"])
def lr_find(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config"),
    start_lr: Optional[float] = typer.Option(None, "--start-lr", help="First learning rate of the sweep"),
    end_lr: Optional[float] = typer.Option(None, "--end-lr", help="Last learning rate of the sweep"),
    steps: Optional[int] = typer.Option(None, "--steps", help="Batches in the sweep"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Plot of loss against learning rate"),
    *, settings: dict,
) -> None:
    """Sweep the learning rate over a few batches, plot loss against it, and suggest one (fastai)."""
    from cnnlab.train.config import load_config
    from cnnlab.train import lr_find as find

    sweep = {k: v for k, v in {"start_lr": start_lr, "end_lr": end_lr, "steps": steps, "out": out}.items()
             if v is not None}
    if config:
        result = find(load_config(config, settings), **sweep)
    else:
        result = find(None, **sweep, **settings)
    console.print(f"suggested learning rate: [bold]{result.suggestion:.2e}[/bold] (steepest descent); "
                  f"minimum loss at {result.min_loss_lr * 10:.2e} → {result.min_loss_lr:.2e} (min/10)")
    console.print(f"plot: {result.plot}")
