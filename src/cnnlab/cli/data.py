"""`cnnlab data preview|stats|split`: look at a data set and prepare one."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnnlab.cli.console import console
from cnnlab.cli.help import augment_presets, help_from
from cnnlab.cli.options import takes_settings
from cnnlab.settings import all_settings

app = typer.Typer()
data_app = typer.Typer(name="data", help="Inspect and prepare data sets.", no_args_is_help=True)
app.add_typer(data_app)

# The data verbs' --seed is the split seed (they have no training to seed).
DATA_OPTIONS = dict(rename={"split_seed": "seed"})


def data_fields(settings: dict[str, Any]) -> dict[str, Any]:
    """Data settings by flat name (`data`, `split_seed`) → `DataConfig` field names."""
    declared = all_settings()
    return {declared[k].name: v for k, v in settings.items()}


def print_skipped(skipped) -> None:
    if skipped:
        console.print(f"[yellow]{len(skipped)} file(s) skipped:[/yellow]")
        for s in skipped[:20]:
            console.print(f"  {s.path}: {s.reason}", highlight=False, markup=False)
        if len(skipped) > 20:
            console.print(f"  … and {len(skipped) - 20} more")


@data_app.command("preview", cls=help_from("cnnlab.data.preview:preview_batch", "cnnlab.data.preview:preview_augmented",
                                           labels=("", "--augmented"), epilog=augment_presets))
@takes_settings(["data", "data_root", "download", "image_size", "channels", "normalize", "split_seed", "mixup",
                 "cutmix"], **DATA_OPTIONS)
def preview(
    out: Path = typer.Option(Path("runs/preview.png"), "--out", "-o", help="PNG file to write"),
    split: Optional[str] = typer.Option(None, "--split", help="train, val or test"),
    n: Optional[int] = typer.Option(None, "--n", help="Images in the grid (or augmented versions with --augmented)"),
    augment: Optional[str] = typer.Option(None, "--augment", help="Augmentation preset to apply (listed below)",
                                          show_default="none; with --augmented: light"),
    augmented: bool = typer.Option(False, "--augmented", help="Show one image and N augmented versions of it"),
    index: Optional[int] = typer.Option(None, "--index", help="Which image --augmented shows"),
    *, settings: dict,
) -> None:
    """Write a PNG grid of a batch with labels (or one image beside its augmentations)."""
    from cnnlab.data import load_data
    from cnnlab.data.augment import resolve_augment, warn_if_flip_mislabels
    from cnnlab.data.mixing import batch_mixer
    from cnnlab.data.preview import preview_augmented, preview_batch

    mixing = {k: settings.pop(k) for k in ("mixup", "cutmix") if k in settings}
    bundle = load_data(**data_fields(settings))
    mixer = batch_mixer(bundle.num_classes, mixing.get("mixup", 0.0), mixing.get("cutmix", 0.0))
    aug = resolve_augment(augment or ("light" if augmented else None))
    msg = warn_if_flip_mislabels(aug, bundle.class_names, emit=False)
    if msg:
        console.print(f"[yellow]warning:[/yellow] {msg}")
    given = {k: v for k, v in {"split": split, "n": n}.items() if v is not None}
    if augmented:
        path = preview_augmented(bundle, out, aug, seed=bundle.config.seed, mixer=mixer,
                                 **given, **({"index": index} if index is not None else {}))
    else:
        path = preview_batch(bundle, out, augment=aug, seed=bundle.config.seed, mixer=mixer, **given)
    print_skipped(bundle.skipped)
    console.print(f"{bundle.name}: {bundle.summary()['splits']} images, classes {bundle.class_names}")
    console.print(f"preview written to [bold]{path}[/bold]")


@data_app.command("stats", cls=help_from())
@takes_settings(["data", "data_root", "download", "image_size", "channels", "split_seed"], **DATA_OPTIONS)
def stats(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables"),
    *, settings: dict,
) -> None:
    """Print images per class per split, image sizes, and channel mean/std."""
    import json

    from rich.table import Table

    from cnnlab.data import load_data
    from cnnlab.data.stats import data_stats

    bundle = load_data(**data_fields(settings))
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
    print_skipped(bundle.skipped)


@data_app.command("split", cls=help_from("cnnlab.data.split:split_folder"))
def split(
    src: Path = typer.Argument(..., help="Big folder: class sub-folders, or files named like cat.12.jpg"),
    dst: Path = typer.Argument(..., help="New folder to create with train/validation/test"),
    per_class: Optional[str] = typer.Option(None, "--per-class", help="Images per class for each split"),
    ratio: Optional[str] = typer.Option(None, "--ratio", help="Instead of --per-class: each class's share per "
                                        "split, e.g. 0.8,0.1,0.1 (every class in every split)"),
    split_names: Optional[str] = typer.Option(None, "--splits", help="Split folder names"),
    classes: Optional[str] = typer.Option(None, "--classes", help="Only these comma-separated classes"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the random choice"),
) -> None:
    """Copy a small train/validation/test subset of a big labelled folder (the Keras book's 2,000 images)."""
    from cnnlab.config_io import comma_list
    from cnnlab.data.split import split_folder
    from cnnlab.errors import ConfigError

    given = {"per_class": comma_list(int)(per_class, "--per-class") if per_class else None,
             "ratio": comma_list(float)(ratio, "--ratio") if ratio else None,
             "split_names": comma_list(str)(split_names, "--splits") if split_names else None,
             "classes": comma_list(str)(classes, "--classes") if classes else None, "seed": seed}
    if per_class and ratio:
        raise ConfigError("--per-class and --ratio: give one of them (counts per class, or shares of each class)")
    counts = split_folder(src, dst, **{k: v for k, v in given.items() if v is not None})
    for name, per in counts.items():
        console.print(f"{dst / name}: " + ", ".join(f"{c} {n}" for c, n in per.items()))
