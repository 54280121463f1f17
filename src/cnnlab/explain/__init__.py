"""Explain: what a trained CNN learned and how it decides.

Feature maps (one layer, or every conv/pool layer as in the Keras book), first-layer filters,
filter patterns by gradient ascent, Grad-CAM and Grad-CAM++, occlusion maps, saliency, a t-SNE
of the penultimate features of a split, and the images that most excite a channel.

    from cnnlab.explain import explain, list_layers
    for layer in list_layers("runs/exp"):
        print(layer.name, layer.kind, layer.output_shape)
    e = explain("runs/exp", "digit.png", method="gradcam", out="gradcam.png")

The rest is importable from its module (`api`: METHODS, default_out; `methods`: the registry
of methods, one module each; `target_layers`: LayerInfo, LayerError, default_layer; `result`:
Explanation). Names are imported lazily (PEP 562): torch and captum load when a function is
used. Calling the package runs `explain` (`cnnlab.callable_package`).
"""

from __future__ import annotations

from typing import Any

from cnnlab.callable_package import make_callable

__all__ = ["explain", "list_layers"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cnnlab.explain import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnnlab.explain' has no attribute {name!r}")


make_callable(__name__)
