"""`explain()`: one door to every method; each method is a function in a module of
`cnnlab.explain.methods`, registered with its name, kind and help.

    from cnnlab.explain import explain, list_layers
    e = explain("runs/exp", "seven.png", method="gradcam")        # predicted class, last conv block
    e.prediction, e.arrays["heatmap"].shape                       # {"class": "7", ...}, (28, 28)
    explain("runs/exp", method="embedding", out="tsne.png")       # t-SNE of the test split
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from cnnlab.errors import ConfigError, ModelError
from cnnlab.explain.context import ExplainContext
from cnnlab.explain.inputs import need_image, resolve_source
from cnnlab.explain.methods import PER_IMAGE, REGISTRY, WHOLE_SPLIT, MethodNames, methods
from cnnlab.explain.result import Explanation
from cnnlab.explain.target_layers import LayerInfo, example_input, find_layer, trace_layers
from cnnlab.run import files
from cnnlab.run.checkpoint import LoadedModel
from cnnlab.run.folder import Run

# The registered methods' names (per-image first); a live view of the registry.
METHODS: Sequence[str] = MethodNames()


def list_layers(source: str | Path | LoadedModel) -> list[LayerInfo]:
    """Every layer of the model in forward order, with its kind and output shape (no batch)."""
    loaded = resolve_source(source)
    return trace_layers(loaded.model.eval(), example_input(loaded))


def explain(source: str | Path | LoadedModel | Run, image: Any = None, method: str = "gradcam",
            layer: str | Sequence[str] | None = None, target: int | str | None = None,
            out: str | Path | None = None, **options: Any) -> Explanation:
    """Explain a trained model with one method; returns the figure (PNG bytes) and its arrays.

    source: a run folder, a checkpoint file, a `Run` or a LoadedModel. image: a file, bytes, a uint8 array,
    a PIL image or a uint8 tensor (needed by the per-image methods). method: one of METHODS
    (`cnnlab explain --help` lists them with what they show). layer: a module name (see
    `list_layers`), or several for featuremaps and patterns; default: the last conv layer
    (Grad-CAM: its block output after the activation, e.g. `relu2`, a ResNet's `layer4`;
    featuremaps: every conv/pool layer; filters: the first conv). target: the class to explain
    (name or index); default the predicted one. out: write the PNG there (a folder gets
    `default_filename`).
    options: the method's own keyword options (e.g. occlusion `patch`, `stride`, `fill`;
    patterns `n`, `steps`; embedding and top-images `split`, `limit`, `seed`), with the defaults
    of its function in `cnnlab.explain.methods`; and, for the whole-split methods, data settings
    overriding the run's own (e.g. `data_root`). Options of other methods are ignored.
    """
    if method not in REGISTRY:
        raise ConfigError(f"method {method!r}: unknown; choose one of {', '.join(METHODS)}")
    chosen = REGISTRY[method]
    own, data_options = split_options(options)
    run = Run.open(source)
    loaded = run.model()
    if loaded.needs_code:
        raise ModelError(f"explain needs the model's own code to hook its layers: {loaded.needs_code}")
    loaded.model.eval()
    layers = trace_layers(loaded.model, example_input(loaded))
    names = [layer] if isinstance(layer, str) else list(layer) if layer is not None else None
    for name in names or []:
        find_layer(layers, name)
    ctx = ExplainContext(loaded, layers, names, data_options, run=run)
    if chosen.kind == PER_IMAGE:
        need_image(image, method)
        ctx.with_image(image, target)
    accepted = chosen.options
    result = chosen.run(ctx, **{k: v for k, v in own.items() if k in accepted})
    if out is not None:
        out = Path(out)
        if out.is_dir() or not out.suffix:
            out = out / default_filename(result, image, options)
        result.save(out)
    return result


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Methods' options and data settings apart; a name that is neither is refused, not ignored."""
    from dataclasses import fields

    from cnnlab.settings import DataConfig

    method_keys = {k for m in methods() for k in m.options}
    data_keys = {f.name for f in fields(DataConfig)} | {"data"}
    unknown = sorted(set(options) - method_keys - data_keys)
    if unknown:
        raise ConfigError(f"explain: unknown option(s) {unknown}; expected some of {sorted(method_keys)} "
                          "or data settings such as data_root")
    return ({k: v for k, v in options.items() if k in method_keys},
            {k: v for k, v in options.items() if k not in method_keys})


# The methods whose picture depends on the class explained: its name goes into the file name.
CLASS_METHODS = ("gradcam", "gradcam++", "occlusion", "saliency")


def default_filename(result: Explanation, image: Any = None, options: dict | None = None) -> str:
    """`<method>[-<layers>][-class-<class>]-<image stem or split>.png`: one file per distinct picture,
    so explaining another layer or class never overwrites the last one.

        gradcam-relu2-class-7-digit.png   featuremaps-conv1-digit.png   filters-conv1.png
        featuremaps-relu1-to-pool2-digit.png (4 layers)   top-images-conv2-ch0-test.png
    """
    from cnnlab.explain.inputs import image_stem

    method = result.method
    parts = [method]
    layers = [safe_name(n) for n in result.layers]
    if layers:
        parts.append("+".join(layers) if len(layers) <= 3 else f"{layers[0]}-to-{layers[-1]}")
    if method in CLASS_METHODS and result.prediction:
        parts.append(f"class-{safe_name(str(result.prediction['class']))}")
    chosen = REGISTRY.get(method)
    if chosen is not None and chosen.kind == WHOLE_SPLIT:
        parts.append(str((options or {}).get("split") or chosen.options.get("split")))
    elif chosen is not None and chosen.kind == PER_IMAGE and image is not None:
        parts.append(image_stem(image))
    return "-".join(parts) + ".png"


def safe_name(text: str) -> str:
    """A layer or class name as part of a file name: letters, digits, '.', '_', '+'; others become '_'."""
    return re.sub(r"[^\w.+]+", "_", text).strip("_") or "_"


def default_out(source: str | Path | LoadedModel | Run) -> Path:
    """runs/NAME/explain/ of the run the model came from (each picture is named by `default_filename`);
    for a model without a run folder (`imagenet:NAME`), explain/ where you are."""
    run = Run.open(source)
    return run.output_path(files.EXPLAIN) if run.folder is not None else Path(files.EXPLAIN)
