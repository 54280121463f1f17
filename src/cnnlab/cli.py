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
