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
from rich.markup import escape

from cnnlab.errors import CnnlabError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # errors unwrapped, so they can be read whole and grepped
app = typer.Typer(help="cnnlab: convolutional image classifiers, from data to explanations.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Inspect and prepare data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


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


@app.command()
def version() -> None:
    """Print the cnnlab version."""
    from cnnlab import __version__

    console.print(__version__)


# --- shared option parsing ------------------------------------------------------------------

def parse_size(text: str | None, what: str = "--image-size") -> tuple[int, ...] | None:
    """"28" → (28, 28); "150x120" → (150, 120); "3x224x224" → (3, 224, 224)."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise CnnlabError(f"{what}: {text!r} is not a size (expected e.g. 28, 150x150 or 3x224x224)") from None
    if any(v < 1 for v in values):
        raise CnnlabError(f"{what}: {text!r} has a non-positive number")
    return values * 2 if len(values) == 1 else values


def parse_ints(text: str | None, what: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise CnnlabError(f"{what}: {text!r} (expected comma-separated whole numbers, e.g. 1000,500,500)") from None


def parse_names(text: str | None) -> list[str] | None:
    return None if text is None else [p.strip() for p in text.split(",") if p.strip()]


def data_options(data: str | None = None, data_root: Optional[Path] = None, download: bool | None = None,
                 image_size: str | None = None, channels: int | None = None, normalize: str | None = None,
                 limit: int | None = None, classes: str | None = None, per_class: int | None = None,
                 seed: int | None = None) -> dict:
    """The data options given on the command line, as `DataConfig` fields (unset ones left out)."""
    opts = {"source": data, "data_root": str(data_root) if data_root else None, "download": download or None,
            "image_size": parse_size(image_size), "channels": channels, "normalize": normalize,
            "limit": limit, "classes": parse_names(classes), "per_class": per_class, "seed": seed}
    return {k: v for k, v in opts.items() if v is not None}


DataArg = typer.Option(None, "--data", "-d", help="digits, mnist, fashion-mnist, cifar10, or an image folder [default: digits]")
DataRootArg = typer.Option(None, "--data-root", help="Root of the built-in data sets [default: $CNNLAB_DATA or ./data]")
DownloadArg = typer.Option(False, "--download", help="Download a missing built-in data set (needs the network)")
ImageSizeArg = typer.Option(None, "--image-size", help="Resize images to HxW (or one number for square)")
ChannelsArg = typer.Option(None, "--channels", help="Convert images to 1 (grey) or 3 (RGB) channels")
NormalizeArg = typer.Option(None, "--normalize", help="dataset, imagenet, half ([-1,1]) or none")
LimitArg = typer.Option(None, "--limit", help="At most this many images per split (quick runs)")
ClassesArg = typer.Option(None, "--classes", help="Keep only these comma-separated class names")
PerClassArg = typer.Option(None, "--per-class", help="At most this many training images per class")
SeedArg = typer.Option(None, "--seed", help="Seed for splits, order, augmentation and initialisation [default: 0]")


def _print_skipped(skipped) -> None:
    if skipped:
        console.print(f"[yellow]{len(skipped)} file(s) skipped:[/yellow]")
        for s in skipped[:20]:
            console.print(f"  {s.path}: {s.reason}", highlight=False, markup=False)
        if len(skipped) > 20:
            console.print(f"  … and {len(skipped) - 20} more")


# --- cnnlab data ----------------------------------------------------------------------------

@data_app.command("preview")
def data_preview(
    data: Optional[str] = DataArg, data_root: Optional[Path] = DataRootArg, download: bool = DownloadArg,
    image_size: Optional[str] = ImageSizeArg, channels: Optional[int] = ChannelsArg,
    normalize: Optional[str] = NormalizeArg, seed: Optional[int] = SeedArg,
    out: Path = typer.Option(Path("runs/preview.png"), "--out", "-o", help="PNG file to write"),
    split: str = typer.Option("train", help="train, val or test"),
    n: int = typer.Option(32, "--n", help="Images in the grid (or augmented versions with --augmented)"),
    augment: Optional[str] = typer.Option(None, "--augment", help="Augmentation preset to apply: " + ", ".join(
        ["none", "mnist-tutorial", "keras-ch5", "imagenet", "light"])),
    augmented: bool = typer.Option(False, "--augmented", help="Show one image and N augmented versions of it"),
    index: int = typer.Option(0, "--index", help="Which image --augmented shows"),
) -> None:
    """Write a PNG grid of a batch with labels (or one image beside its augmentations)."""
    from cnnlab.data import load_data, resolve_augment, warn_if_flip_mislabels
    from cnnlab.data.preview import preview_augmented, preview_batch

    bundle = load_data(**data_options(data, data_root, download, image_size, channels, normalize, seed=seed))
    aug = resolve_augment(augment or ("light" if augmented else None))
    msg = warn_if_flip_mislabels(aug, bundle.class_names, emit=False)
    if msg:
        console.print(f"[yellow]warning:[/yellow] {msg}")
    if augmented:
        path = preview_augmented(bundle, out, aug, index=index, n=n, split=split, seed=bundle.config.seed)
    else:
        path = preview_batch(bundle, out, split=split, n=n, augment=aug, seed=bundle.config.seed)
    _print_skipped(bundle.skipped)
    console.print(f"{bundle.name}: {bundle.summary()['splits']} images, classes {bundle.class_names}")
    console.print(f"preview written to [bold]{path}[/bold]")


@data_app.command("stats")
def data_stats_cmd(
    data: Optional[str] = DataArg, data_root: Optional[Path] = DataRootArg, download: bool = DownloadArg,
    image_size: Optional[str] = ImageSizeArg, channels: Optional[int] = ChannelsArg, seed: Optional[int] = SeedArg,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
) -> None:
    """Print images per class per split, image sizes, and channel mean/std."""
    import json

    from rich.table import Table

    from cnnlab.data import load_data
    from cnnlab.data.stats import data_stats

    bundle = load_data(**data_options(data, data_root, download, image_size, channels, seed=seed))
    stats = data_stats(bundle)
    if as_json:
        print(json.dumps(stats, indent=2))
        return
    table = Table(title=f"{stats['name']}: images per class")
    table.add_column("class")
    splits = list(stats["counts"])
    for s in splits:
        table.add_column(s, justify="right")
    for c in stats["classes"]:
        table.add_row(c, *[f"{stats['counts'][s][c]:,}" for s in splits])
    table.add_row("[bold]total", *[f"[bold]{sum(stats['counts'][s].values()):,}" for s in splits])
    console.print(table)
    sizes = stats["original_sizes"]
    if sizes["most_common"]:
        common = ", ".join(f"{h}×{w} ({k})" for h, w, k in sizes["most_common"])
        console.print(f"original sizes: heights {sizes['height_range']}, widths {sizes['width_range']}; most common {common}")
    console.print(f"model input: {stats['channels']}×{stats['input_size'][0]}×{stats['input_size'][1]}")
    console.print(f"training-split mean {['%.4f' % m for m in stats['mean']]}, std {['%.4f' % s for s in stats['std']]}")
    _print_skipped(bundle.skipped)


@data_app.command("split")
def data_split_cmd(
    src: Path = typer.Argument(..., help="Big folder: class sub-folders, or files named like cat.12.jpg"),
    dst: Path = typer.Argument(..., help="New folder to create with train/validation/test"),
    per_class: str = typer.Option("1000,500,500", "--per-class", help="Images per class for each split"),
    splits: str = typer.Option("train,validation,test", "--splits", help="Split folder names"),
    classes: Optional[str] = typer.Option(None, "--classes", help="Only these comma-separated classes"),
    seed: int = typer.Option(0, "--seed", help="Seed of the random choice"),
) -> None:
    """Copy a small train/validation/test subset of a big labelled folder (the Keras book's 2,000 images)."""
    from cnnlab.data.split import split_folder

    counts = split_folder(src, dst, parse_ints(per_class, "--per-class"), parse_names(splits), seed,
                          parse_names(classes))
    for split, per in counts.items():
        console.print(f"{dst / split}: " + ", ".join(f"{c} {n}" for c, n in per.items()))


# --- cnnlab train / lr-find -------------------------------------------------------------------

def _model_kwargs(items: list[str] | None) -> dict | None:
    """--model-arg key=value (repeatable); values are read as YAML scalars (numbers, true, text)."""
    if not items:
        return None
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise CnnlabError(f"--model-arg: {item!r} (expected key=value, e.g. dropout=0.5)")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def _train_settings(**options) -> dict:
    """The training options given on the command line (unset ones are left to the config)."""
    return {k: v for k, v in options.items() if v is not None}


@app.command()
def train(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (a recipe or a run's config.yaml)"),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue runs/NAME from its last checkpoint"),
    data: Optional[str] = DataArg, data_root: Optional[Path] = DataRootArg, download: bool = DownloadArg,
    image_size: Optional[str] = ImageSizeArg, channels: Optional[int] = ChannelsArg,
    normalize: Optional[str] = NormalizeArg, limit: Optional[int] = LimitArg, classes: Optional[str] = ClassesArg,
    per_class: Optional[int] = PerClassArg,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registry name (see `cnnlab models`) [default: mnist-tiny]"),
    model_arg: Optional[list[str]] = typer.Option(None, "--model-arg", help="Model option key=value (repeatable)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", "-e", help="[default: 10]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="[default: 64]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate [default: 1e-3]"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd, adam, adamw or rmsprop [default: adam]"),
    momentum: Optional[float] = typer.Option(None, "--momentum", help="SGD momentum [default: 0.9]"),
    nesterov: Optional[bool] = typer.Option(None, "--nesterov/--no-nesterov", help="Nesterov momentum (SGD)"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="L2 term [default: 0]"),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="Rate of every Dropout layer of the model"),
    label_smoothing: Optional[float] = typer.Option(None, "--label-smoothing", help="[default: 0]"),
    augment: Optional[str] = typer.Option(None, "--augment", help="none, mnist-tutorial, keras-ch5, imagenet, light"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="none, step, cosine, onecycle, plateau"),
    step_size: Optional[int] = typer.Option(None, "--step-size", help="StepLR: epochs per decay [default: 10]"),
    gamma: Optional[float] = typer.Option(None, "--gamma", help="StepLR/plateau decay factor [default: 0.1]"),
    warmup_epochs: Optional[float] = typer.Option(None, "--warmup-epochs", help="Linear warmup length"),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", help="Clip gradients to this max norm"),
    accumulate: Optional[int] = typer.Option(None, "--accumulate", help="Batches per optimizer step"),
    monitor: Optional[str] = typer.Option(None, "--monitor", help="val_loss or val_acc [default: val_loss]"),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early stopping patience (epochs)"),
    min_delta: Optional[float] = typer.Option(None, "--min-delta", help="Smallest improvement that counts"),
    class_weights: Optional[str] = typer.Option(None, "--class-weights", help="auto (inverse frequency)"),
    weights: Optional[str] = typer.Option(None, "--weights", help="imagenet, a weights file, or a run folder"),
    transfer: Optional[str] = typer.Option(None, "--transfer", help="extract-cached, extract or finetune"),
    unfreeze: Optional[str] = typer.Option(None, "--unfreeze", help="finetune: top N blocks, or all"),
    head: Optional[str] = typer.Option(None, "--head", help="Hidden sizes of the new head, e.g. 512,256"),
    head_dropout: Optional[float] = typer.Option(None, "--head-dropout", help="Dropout in the new head"),
    head_epochs: Optional[int] = typer.Option(None, "--head-epochs", help="finetune: epochs of head-only training first"),
    finetune_lr: Optional[float] = typer.Option(None, "--finetune-lr", help="finetune: learning rate after unfreezing"),
    backbone_lr_mult: Optional[float] = typer.Option(None, "--backbone-lr-mult", help="Backbone lr = lr × this"),
    seed: Optional[int] = SeedArg,
    split_seed: Optional[int] = typer.Option(None, "--split-seed", help="Seed of the train/val/test split [default: 0]"),
    name: Optional[str] = typer.Option(None, "--name", help="Run folder name [default: exp, exp2, ...]"),
    project: Optional[str] = typer.Option(None, "--project", help="Folder of run folders [default: runs]"),
    accelerator: Optional[str] = typer.Option(None, "--accelerator", help="auto, cpu, cuda, mps"),
    devices: Optional[int] = typer.Option(None, "--devices", help="Devices (processes) per node"),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", help="Nodes (with torchrun)"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="auto, ddp, ddp_spawn"),
    precision: Optional[str] = typer.Option(None, "--precision", help="32, bf16-mixed, 16-mixed"),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last"),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model"),
    num_workers: Optional[int] = typer.Option(None, "--num-workers", help="Decoding workers for streamed folders"),
    tensorboard: Optional[bool] = typer.Option(None, "--tensorboard/--no-tensorboard", help="Write TensorBoard events"),
    report: Optional[bool] = typer.Option(None, "--report/--no-report",
                                          help="Write report.html when the run ends (default: yes)"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="At most this many batches per epoch"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors"),
    smoke: bool = typer.Option(False, "--smoke", help="Check the config in seconds: one epoch of a few batches "
                                                       "(stand-in images when the data is absent)"),
) -> None:
    """Train a model; writes runs/NAME with config, history, checkpoints, curves, metrics and report.html."""
    from cnnlab.train import fit

    settings = _train_settings(
        model=model, model_kwargs=_model_kwargs(model_arg), epochs=epochs, batch_size=batch_size, lr=lr,
        optimizer=optimizer, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, dropout=dropout,
        label_smoothing=label_smoothing, augment=augment, scheduler=scheduler, step_size=step_size, gamma=gamma,
        warmup_epochs=warmup_epochs, grad_clip=grad_clip, accumulate=accumulate, monitor=monitor,
        patience=patience, min_delta=min_delta, class_weights=class_weights, weights=weights, transfer=transfer,
        unfreeze=unfreeze, head=parse_ints(head, "--head"), head_dropout=head_dropout, head_epochs=head_epochs,
        finetune_lr=finetune_lr, backbone_lr_mult=backbone_lr_mult, seed=seed, split_seed=split_seed, name=name, project=project,
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy, precision=precision,
        channels_last=channels_last, compile=compile, num_workers=num_workers, tensorboard=tensorboard, report=report,
        max_steps=max_steps,
        **data_options(data, data_root, download, image_size, channels, normalize, limit, classes, per_class))
    if resume is not None:
        fit(resume=resume, quiet=quiet, **settings)
    else:
        fit(config, quiet=quiet, smoke=smoke, **settings)


@app.command("lr-find")
def lr_find_cmd(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config"),
    data: Optional[str] = DataArg, data_root: Optional[Path] = DataRootArg, image_size: Optional[str] = ImageSizeArg,
    limit: Optional[int] = LimitArg,
    model: Optional[str] = typer.Option(None, "--model", "-m"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b"),
    augment: Optional[str] = typer.Option(None, "--augment"),
    start_lr: float = typer.Option(1e-7, "--start-lr"), end_lr: float = typer.Option(10.0, "--end-lr"),
    steps: int = typer.Option(100, "--steps", help="Batches in the sweep"),
    out: Path = typer.Option(Path("runs/lr_find.png"), "--out", "-o", help="Plot of loss against learning rate"),
) -> None:
    """Sweep the learning rate over a few batches, plot loss against it, and suggest one (fastai)."""
    from cnnlab.train import load_config, lr_find

    base = load_config(config) if config else None
    result = lr_find(base, start_lr=start_lr, end_lr=end_lr, steps=steps, out=out,
                     **_train_settings(model=model, optimizer=optimizer, batch_size=batch_size, augment=augment,
                                       **data_options(data, data_root, None, image_size, limit=limit)))
    console.print(f"suggested learning rate: [bold]{result.suggestion:.2e}[/bold] (steepest descent); "
                  f"minimum loss at {result.min_loss_lr * 10:.2e} → {result.min_loss_lr:.2e} (min/10)")
    console.print(f"plot: {result.plot}")


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


# --- bench (issue 10): run a benchmark script of benchmarks/ ---------------------------------

def find_benchmark(name: str) -> Path:
    """benchmarks/bench_NAME.py of this checkout (beside src/) or of the current folder."""
    roots = [Path.cwd() / "benchmarks", Path(__file__).resolve().parents[2] / "benchmarks"]
    for root in roots:
        script = root / f"bench_{name}.py"
        if script.is_file():
            return script
    known = sorted({p.stem.removeprefix("bench_") for r in roots if r.is_dir() for p in r.glob("bench_*.py")})
    raise CnnlabError(f"benchmark {name!r}: no benchmarks/bench_{name}.py here"
                      + (f"; choose one of {', '.join(known)}" if known else
                         " (benchmarks ship with the source checkout, not the installed package)"))


@app.command("bench", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench_command(
    ctx: typer.Context,
    name: str = typer.Argument("speed", help="Which benchmark: speed, data, scratch, serve, transfer."),
) -> None:
    """Run a benchmark (benchmarks/bench_NAME.py); extra options go to the script (e.g. --rows 1,2)."""
    import runpy

    script = find_benchmark(name)
    saved = sys.argv
    sys.argv = [str(script), *ctx.args]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = saved


# --- report and web app (issue 9): `cnnlab report RUN`, `cnnlab serve RUN` -------------------
from cnnlab.report.cli import report_command  # noqa: E402
from cnnlab.serve.cli import serve_command  # noqa: E402

app.command("report")(report_command)
app.command("serve")(serve_command)

# --- evaluate, predict, export (issue 5) -----------------------------------------------------
from cnnlab.evaluate import cli as _evaluate_cli  # noqa: E402  (light: typer and rich only)

_evaluate_cli.register(app)

# --- explain (issue 7) ----------------------------------------------------------------------
from cnnlab.explain.cli import explain_command  # noqa: E402

app.command("explain")(explain_command)
