"""`explain()`: one door to every method, each a small module of this package.

    from cnnlab.explain import explain, list_layers
    e = explain("runs/exp", "seven.png", method="gradcam")        # predicted class, last conv
    e.prediction, e.arrays["heatmap"].shape                       # {"class": "7", ...}, (28, 28)
    explain("runs/exp", method="embedding", out="tsne.png")       # t-SNE of the test split
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from cnnlab.errors import ConfigError
from cnnlab.explain import embedding as emb
from cnnlab.explain import featuremaps as fm
from cnnlab.explain import filters as flt
from cnnlab.explain import patterns as pat
from cnnlab.explain.gradcam import class_heatmaps
from cnnlab.explain.inputs import (PreparedImage, class_index, class_scores, display_images, need_image,
                                   predict_one, prediction_dict, prepare_image, resolve_source, run_data)
from cnnlab.explain.layers import (LayerError, LayerInfo, default_layer, example_input, find_layer, first_conv,
                                   get_module, is_conv, require_spatial, trace_layers)
from cnnlab.explain.occlusion import occlusion_maps
from cnnlab.explain.render import heatmap_figure, scale01, tile_grid_figure
from cnnlab.explain.result import Explanation
from cnnlab.explain.saliency import saliency_maps
from cnnlab.explain.splits import collect, subsample
from cnnlab.explain.top_images import channel_score
from cnnlab.train.checkpoint import LoadedModel

PER_IMAGE = ("featuremaps", "gradcam", "gradcam++", "occlusion", "saliency")
WHOLE_MODEL = ("filters", "patterns")
WHOLE_SPLIT = ("embedding", "top-images")
METHODS = PER_IMAGE[:1] + WHOLE_MODEL + PER_IMAGE[1:] + WHOLE_SPLIT


def list_layers(source: str | Path | LoadedModel) -> list[LayerInfo]:
    """Every layer of the model in forward order, with its kind and output shape (no batch)."""
    loaded = resolve_source(source)
    return trace_layers(loaded.model.eval(), example_input(loaded))


def explain(source: str | Path | LoadedModel, image: Any = None, method: str = "gradcam",
            layer: str | Sequence[str] | None = None, target: int | str | None = None,
            out: str | Path | None = None, **options: Any) -> Explanation:
    """Explain a trained model with one method; returns the figure (PNG bytes) and its arrays.

    source: a run folder, a checkpoint file or a LoadedModel. image: a file, bytes, a uint8 array,
    a PIL image or a uint8 tensor (needed by featuremaps, gradcam, gradcam++, occlusion, saliency).
    method: one of METHODS. layer: a module name (see `list_layers`), or several for featuremaps
    and patterns; default: the last conv layer (featuremaps: every conv/pool layer; filters: the
    first conv). target: the class to explain (name or index); default the predicted one.
    out: write the PNG there (a folder gets `default_filename`).
    options: occlusion `patch`, `stride`, `fill` ("mean" or a grey in [0, 1]); patterns `n`,
    `steps`, `step_size`, `seed`; featuremaps `max_channels`; embedding and top-images `split`
    (default "test"), `limit`, `seed`, and data options overriding the run's own (e.g.
    `data_root`); top-images `channel`, `n`; embedding `perplexity`.
    """
    if method not in METHODS:
        raise ConfigError(f"method {method!r}: unknown; choose one of {', '.join(METHODS)}")
    _check_options(options)
    loaded = resolve_source(source)
    loaded.model.eval()
    layers = trace_layers(loaded.model, example_input(loaded))
    names = [layer] if isinstance(layer, str) else list(layer) if layer is not None else None
    for name in names or []:
        find_layer(layers, name)
    if method in PER_IMAGE:
        need_image(image, method)
        result = _per_image(method, loaded, layers, prepare_image(loaded, image), names, target, options)
    else:
        result = METHOD_RUNNERS[method](loaded, layers, names, options)
    if out is not None:
        out = Path(out)
        if out.is_dir() or not out.suffix:
            out = out / default_filename(method, image, options)
        result.save(out)
    return result


def default_filename(method: str, image: Any = None, options: dict | None = None) -> str:
    """`<method>-<image stem>.png`, or `<method>-<split>.png` for the whole-split methods."""
    from cnnlab.explain.inputs import image_stem

    if method in WHOLE_SPLIT:
        return f"{method}-{(options or {}).get('split', 'test')}.png"
    if method not in PER_IMAGE or image is None:
        return f"{method}.png"
    return f"{method}-{image_stem(image)}.png"


def default_out(source: str | Path | LoadedModel, method: str, image: Any = None, **options: Any) -> Path:
    """runs/NAME/explain/<method>-<image stem>.png for the run the model came from."""
    path = Path(source.path) if isinstance(source, LoadedModel) else Path(source)
    run_dir = path if path.is_dir() else path.parent
    return run_dir / "explain" / default_filename(method, image, options)


# --- per-image methods ----------------------------------------------------------------------

def _per_image(method: str, loaded: LoadedModel, layers: list[LayerInfo], img: PreparedImage,
               names: list[str] | None, target, options: dict) -> Explanation:
    probs = predict_one(loaded, img.batch)
    k = class_index(loaded, target, probs)
    pred = prediction_dict(loaded, probs, k)
    about = f"{pred['class']} (p={pred['probability']:.3f})"
    if method == "featuremaps":
        chosen = names or fm.keras_view_layers(layers)
        for n in chosen:
            require_spatial(find_layer(layers, n), method, layers)
        maps = fm.layer_activations(loaded.model, img.batch, chosen)
        title = f"feature maps of {img.stem}; predicted {about}"
        png = fm.featuremaps_figure(img.display, maps, title, options.get("max_channels", 64))
        arrays = {"maps": maps[chosen[0]], **{f"maps/{n}": m for n, m in maps.items()},
                  "sparsity": np.array([fm.sparsity(m) for m in maps.values()])}
        return Explanation(method, png, arrays, title, prediction=pred)

    forward = class_scores(loaded)
    targets = torch.tensor([k], device=img.batch.device)
    if method in ("gradcam", "gradcam++"):
        name = _one_layer(names, loaded, method, layers)
        require_spatial(find_layer(layers, name), method, layers)
        cams, heat = class_heatmaps(forward, loaded.model, name, img.batch, targets, plus=method == "gradcam++")
        arrays, label = {"heatmap": heat[0], "cam": cams[0]}, f"{method} at {name}"
    elif method == "occlusion":
        drop = occlusion_maps(forward, loaded.preprocessing, img.batch, targets, options.get("patch"),
                              options.get("stride"), options.get("fill", "mean"))[0]
        heat = np.clip(drop, 0, None)
        arrays = {"heatmap": heat / heat.max() if heat.max() > 0 else heat, "drop": drop}
        label = f"drop in P({pred['class']}), max {drop.max():.2f}"
    else:
        sal = saliency_maps(forward, img.batch, targets)[0]
        arrays, label = {"heatmap": sal / sal.max() if sal.max() > 0 else sal, "gradient": sal}, "|d score / d pixel|"
    title = f"{method}: {img.stem} → {about}"
    return Explanation(method, heatmap_figure(img.display, arrays["heatmap"], title, label), arrays, title,
                       prediction=pred)


def _one_layer(names: list[str] | None, loaded: LoadedModel, method: str,
               layers: list[LayerInfo] | None = None) -> str:
    if names and len(names) > 1:
        raise ConfigError(f"{method}: takes one layer, got {names}")
    return names[0] if names else default_layer(loaded.model, layers)


# --- whole-model methods --------------------------------------------------------------------

def _filters(loaded: LoadedModel, layers: list[LayerInfo], names: list[str] | None, options: dict) -> Explanation:
    name = _one_layer(names, loaded, "filters") if names else first_conv(loaded.model)
    module = get_module(loaded.model, name, layers)
    if not is_conv(module):
        raise LayerError(f"layer {name!r} ({type(module).__name__}) has no convolution filters; "
                         f"filters needs a conv layer, e.g. {first_conv(loaded.model)!r}")
    png = flt.filters_figure(module, name, options.get("max_filters", 64))
    return Explanation("filters", png, {"weights": module.weight.detach().cpu().numpy()}, f"filters of {name}")


def _patterns(loaded: LoadedModel, layers: list[LayerInfo], names: list[str] | None, options: dict) -> Explanation:
    chosen = names or [default_layer(loaded.model, layers)]
    arrays: dict[str, np.ndarray] = {}
    pngs = []
    for name in chosen:
        info = find_layer(layers, name)
        require_spatial(info, "patterns", layers)
        filters = list(range(min(options.get("n", 16), info.output_shape[0])))
        x, start, end = pat.gradient_ascent(loaded.model, name, loaded.preprocessing, filters,
                                            options.get("steps", 40), options.get("step_size", 0.05),
                                            seed=options.get("seed", 0))
        arrays.update({f"patterns/{name}": x.numpy(), f"start/{name}": start, f"end/{name}": end})
        tiles = list(pat.deprocess(x))
        pngs.append(tile_grid_figure(tiles, f"patterns of {name}: inputs maximising filters 0–{len(filters) - 1}",
                                     labels=[f"{f}: {a:.1f}" for f, a in zip(filters, end)], cmap="gray",
                                     tile_inches=1.1))
    first = chosen[0]
    arrays.update({"patterns": arrays[f"patterns/{first}"], "activation_start": arrays[f"start/{first}"],
                   "activation_end": arrays[f"end/{first}"]})
    return Explanation("patterns", _stack_pngs(pngs), arrays, f"patterns of {', '.join(chosen)}")


def _stack_pngs(pngs: list[bytes]) -> bytes:
    """Several figures one above the other (a grid per layer) as one PNG."""
    if len(pngs) == 1:
        return pngs[0]
    import io

    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    canvas = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), "white")
    y = 0
    for i in images:
        canvas.paste(i, (0, y))
        y += i.height
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


# --- whole-split methods --------------------------------------------------------------------

_SPLIT_KEYS = ("split", "limit", "seed", "n", "channel", "perplexity", "batch_size", "max_channels",
               "max_filters", "steps", "step_size", "patch", "stride", "fill")


def _check_options(options: dict) -> None:
    """Refuse a misspelt option instead of silently ignoring it."""
    from dataclasses import fields

    from cnnlab.data import DataConfig

    known = set(_SPLIT_KEYS) | {f.name for f in fields(DataConfig)} | {"data"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"explain: unknown option(s) {unknown}; expected some of {sorted(_SPLIT_KEYS)} "
                          "or data settings such as data_root")


def _split_of(loaded: LoadedModel, options: dict):
    data_options = {k: v for k, v in options.items() if k not in _SPLIT_KEYS}
    bundle = run_data(loaded, **data_options)
    split_name = options.get("split", "test")
    return bundle.split(split_name), split_name


def _embedding(loaded: LoadedModel, layers: list[LayerInfo], names: list[str] | None, options: dict) -> Explanation:
    split, split_name = _split_of(loaded, options)
    split = subsample(split, options.get("limit", 1000), options.get("seed", 0))
    if names:
        name = _one_layer(names, loaded, "embedding")
        module, use_input, what = get_module(loaded.model, name, layers), False, f"output of {name}"
    else:
        name, module = emb.penultimate_module(loaded.model)
        use_input, what = True, f"features entering {name}"
    feats = collect(loaded.model, module, split, loaded.preprocessing, lambda t: t.flatten(1), use_input,
                    options.get("batch_size", 256)).numpy()
    points = emb.tsne_points(feats, options.get("seed", 0), options.get("perplexity", 30.0))
    labels = split.labels.numpy()
    title = f"t-SNE of the {what}: {len(labels)} {split_name} images ({feats.shape[1]} values each)"
    return Explanation("embedding", emb.embedding_figure(points, labels, loaded.class_names, title),
                       {"points": points, "labels": labels}, title)


def _top_images(loaded: LoadedModel, layers: list[LayerInfo], names: list[str] | None, options: dict) -> Explanation:
    name = _one_layer(names, loaded, "top-images", layers)
    info = find_layer(layers, name)
    channel = int(options.get("channel", 0))
    if not 0 <= channel < info.output_shape[0]:
        raise ConfigError(f"channel {channel}: layer {name!r} has {info.output_shape[0]} channels "
                          f"(expected 0 to {info.output_shape[0] - 1})")
    split, split_name = _split_of(loaded, options)
    split = subsample(split, options.get("limit"), options.get("seed", 0))
    module = get_module(loaded.model, name, layers)
    scores = collect(loaded.model, module, split, loaded.preprocessing, channel_score(channel),
                     batch_size=options.get("batch_size", 256)).numpy()
    n = min(int(options.get("n", 16)), len(scores))
    top = np.argsort(-scores, kind="stable")[:n]
    idx = torch.as_tensor(top, dtype=torch.long)
    images = split.uint8_images(idx, loaded.preprocessing)
    shown = display_images(loaded, loaded.preprocessing.normalize(images))
    labels = [f"{loaded.class_names[int(split.labels[i])]} {scores[i]:.2f}" for i in top]
    title = f"top {n} {split_name} images for channel {channel} of {name} (peak activation)"
    png = tile_grid_figure([scale01(s) if s.ndim == 2 else s for s in shown], title, cmap="gray", labels=labels,
                           tile_inches=1.0)
    return Explanation("top-images", png, {"indices": top, "scores": scores[top], "images": images.numpy()}, title)


METHOD_RUNNERS: dict[str, Callable[..., Explanation]] = {
    "filters": _filters, "patterns": _patterns, "embedding": _embedding, "top-images": _top_images,
}
