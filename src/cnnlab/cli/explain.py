"""`cnnlab explain RUN [IMAGE] --method M`: a thin layer over `cnnlab.explain.explain`.

The methods, their help and the defaults of their options come from the method registry
(`cnnlab.explain.methods`), read when `--help` is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cnnlab.cli.console import console
from cnnlab.cli.help import api_default, format_default, help_from, listing
from cnnlab.cli.options import takes_settings

app = typer.Typer()

# The method options this verb offers; each method takes those of its function's keywords.
METHOD_OPTIONS = ("split", "limit", "channel", "n", "patch", "stride")


def method_option_defaults() -> dict[str, str]:
    """For each method option: the methods that take it and their defaults ("patterns 16, top-images 16")."""
    from cnnlab.explain.methods import methods

    shown = {}
    for option in METHOD_OPTIONS:
        uses = [(m.name, m.options[option]) for m in methods() if option in m.options]
        values = {format_default(v) if v is not None else "auto" for _, v in uses}
        if len(values) == 1:
            shown[option] = f"{next(iter(values))} ({', '.join(name for name, _ in uses)})"
        else:
            shown[option] = ", ".join(f"{name} {format_default(v) if v is not None else 'all'}" for name, v in uses)
    return shown


def method_list() -> str:
    from cnnlab.explain.methods import methods

    return listing("Methods (--method):", [(m.name, f"{m.help} ({m.kind})") for m in methods()])


@app.command("explain", cls=help_from("cnnlab.explain:explain", options=method_option_defaults, epilog=method_list))
@takes_settings(["data_root"], defaults={"data_root": "the run's own"})
def explain(
    run: Path = typer.Argument(..., help="Run folder or checkpoint file"),
    image: Optional[str] = typer.Argument(None, help="Image file (the per-image methods)"),
    method: Optional[str] = typer.Option(None, "--method", "-m", help="Explain method (listed below)"),
    layer: Optional[str] = typer.Option(None, "--layer", "-l", help="Module name(s), comma-separated "
                                        "(see --list-layers)",
                                        show_default="the last conv layer; Grad-CAM: its block output, after the activation"),
    target: Optional[str] = typer.Option(None, "--class", "-c", help="Class name or index",
                                         show_default="the predicted class"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG file or folder",
                                       show_default="RUN/explain/<method>-<layers>-class-<class>-<image>.png"),
    list_layers: bool = typer.Option(False, "--list-layers", help="Print the layer names and output shapes"),
    split: Optional[str] = typer.Option(None, "--split", help="Split of the run's data: train, val or test"),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many images of the split"),
    channel: Optional[int] = typer.Option(None, "--channel", help="Channel of the layer"),
    n: Optional[int] = typer.Option(None, "--n", help="Filters (patterns) or images (top-images)"),
    patch: Optional[int] = typer.Option(None, "--patch", help="Patch side in pixels"),
    stride: Optional[int] = typer.Option(None, "--stride", help="Patch step in pixels"),
    *, settings: dict,
) -> None:
    """Explain a trained model: feature maps, filters, patterns, Grad-CAM, occlusion, saliency, t-SNE."""
    from rich.table import Table

    from cnnlab.explain.api import default_out
    from cnnlab.explain import explain as explain_model
    from cnnlab.explain import list_layers as layers_of

    if list_layers:
        table = Table(title=f"layers of {run}", title_justify="left", header_style="bold")
        for column in ("name", "kind", "output shape"):
            table.add_column(column)
        for info in layers_of(run):
            table.add_row(info.name, info.kind, "×".join(map(str, info.output_shape)))
        console.print(table)
        return
    layers = [p.strip() for p in layer.split(",") if p.strip()] if layer else None
    options = {"split": split, "limit": limit, "channel": channel, "n": n, "patch": patch, "stride": stride}
    options = {k: v for k, v in options.items() if v is not None} | settings
    method = method or api_default(explain_model, "method")
    out = out or default_out(run)  # a folder: the file is named after the method, layers, class and image
    result = explain_model(run, image, method=method, layer=layers[0] if layers and len(layers) == 1 else layers,
                           target=target, out=out, **options)
    if result.prediction:
        p = result.prediction
        console.print(f"class {p['class']} (index {p['index']}), probability {p['probability']:.4f}", highlight=False)
    console.print(result.title, highlight=False, markup=False)
    console.print(f"written to [bold]{result.path}[/bold]")

