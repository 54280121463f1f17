"""`cnnlab explain RUN [IMAGE] --method M`: a thin layer over `cnnlab.explain.explain`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def explain_command(
    run: Path = typer.Argument(..., help="Run folder or checkpoint file"),
    image: Optional[str] = typer.Argument(None, help="Image file (featuremaps, gradcam, gradcam++, occlusion, saliency)"),
    method: str = typer.Option("gradcam", "--method", "-m", help="featuremaps, filters, patterns, gradcam, gradcam++, "
                               "occlusion, saliency, embedding, top-images"),
    layer: Optional[str] = typer.Option(None, "--layer", "-l", help="Module name(s), comma-separated "
                                        "(see --list-layers) [default: the last conv layer]"),
    target: Optional[str] = typer.Option(None, "--class", "-c", help="Class name or index [default: predicted]"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG file or folder "
                                       "[default: RUN/explain/<method>-<image>.png]"),
    list_layers: bool = typer.Option(False, "--list-layers", help="Print the layer names and output shapes"),
    split: Optional[str] = typer.Option(None, "--split", help="embedding, top-images: train, val or test [default: test]"),
    limit: Optional[int] = typer.Option(None, "--limit", help="embedding, top-images: at most this many images"),
    channel: Optional[int] = typer.Option(None, "--channel", help="top-images: channel of the layer [default: 0]"),
    n: Optional[int] = typer.Option(None, "--n", help="patterns: filters; top-images: images [default: 16]"),
    patch: Optional[int] = typer.Option(None, "--patch", help="occlusion: patch side in pixels"),
    stride: Optional[int] = typer.Option(None, "--stride", help="occlusion: patch step in pixels"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Root of the built-in data sets"),
) -> None:
    """Explain a trained model: feature maps, filters, patterns, Grad-CAM, occlusion, saliency, t-SNE."""
    from cnnlab.explain import default_out, explain
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
    options = {"split": split, "limit": limit, "channel": channel, "n": n, "patch": patch, "stride": stride,
               "data_root": str(data_root) if data_root else None}
    options = {k: v for k, v in options.items() if v is not None}
    out = out or default_out(run, method, image, **options)
    result = explain(run, image, method=method, layer=layers[0] if layers and len(layers) == 1 else layers,
                     target=target, out=out, **options)
    if result.prediction:
        p = result.prediction
        console.print(f"class {p['class']} (index {p['index']}), probability {p['probability']:.4f}", highlight=False)
    console.print(result.title, highlight=False, markup=False)
    console.print(f"written to [bold]{result.path}[/bold]")
