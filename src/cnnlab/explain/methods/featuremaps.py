"""Feature maps: what each conv/pool layer outputs for one image (the Keras book's grids)."""

from __future__ import annotations

import numpy as np

from cnnlab.explain import featuremaps as fm
from cnnlab.explain.context import ExplainContext
from cnnlab.explain.methods import PER_IMAGE, method
from cnnlab.explain.result import Explanation
from cnnlab.explain.target_layers import require_spatial


@method("featuremaps", PER_IMAGE, "The channels each conv/pool layer outputs for the image (every such layer, "
        "or --layer)")
def featuremaps(ctx: ExplainContext, *, max_channels: int = 64) -> Explanation:
    chosen = ctx.names or fm.keras_view_layers(ctx.layers)
    for n in chosen:
        require_spatial(ctx.layer(n), "featuremaps", ctx.layers)
    maps = fm.layer_activations(ctx.model, ctx.image.batch, chosen)
    title = f"feature maps of {ctx.image.stem}; predicted {ctx.about}"
    png = fm.featuremaps_figure(ctx.image.display, maps, title, max_channels)
    arrays = {"maps": maps[chosen[0]], **{f"maps/{n}": m for n, m in maps.items()},
              "sparsity": np.array([fm.sparsity(m) for m in maps.values()])}
    return Explanation("featuremaps", png, arrays, title, prediction=ctx.prediction, layers=list(chosen))
