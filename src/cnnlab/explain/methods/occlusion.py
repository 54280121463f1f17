"""Occlusion: how much the class probability drops when a patch of the image is greyed out."""

from __future__ import annotations

import numpy as np

from cnnlab.explain.context import ExplainContext
from cnnlab.explain.methods import PER_IMAGE, method
from cnnlab.explain.occlusion import occlusion_maps
from cnnlab.explain.render import heatmap_figure
from cnnlab.explain.result import Explanation


@method("occlusion", PER_IMAGE, "Drop in the class probability when each patch is greyed out (--patch, --stride)")
def occlusion(ctx: ExplainContext, *, patch: int | None = None, stride: int | None = None,
              fill: str | float = "mean") -> Explanation:
    forward, targets = ctx.class_scores()
    drop = occlusion_maps(forward, ctx.loaded.preprocessing, ctx.image.batch, targets, patch, stride, fill)[0]
    heat = np.clip(drop, 0, None)
    arrays = {"heatmap": heat / heat.max() if heat.max() > 0 else heat, "drop": drop}
    title = f"occlusion: {ctx.image.stem} → {ctx.about}"
    label = f"drop in P({ctx.prediction['class']}), max {drop.max():.2f}"
    return Explanation("occlusion", heatmap_figure(ctx.image.display, arrays["heatmap"], title, label), arrays, title,
                       prediction=ctx.prediction)
