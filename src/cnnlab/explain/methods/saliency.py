"""Saliency: the gradient of the class score with respect to each pixel."""

from __future__ import annotations

from cnnlab.explain.context import ExplainContext
from cnnlab.explain.methods import PER_IMAGE, method
from cnnlab.explain.render import heatmap_figure
from cnnlab.explain.result import Explanation
from cnnlab.explain.saliency import saliency_maps


@method("saliency", PER_IMAGE, "|d class score / d pixel|: the pixels the score is most sensitive to")
def saliency(ctx: ExplainContext) -> Explanation:
    forward, targets = ctx.class_scores()
    sal = saliency_maps(forward, ctx.image.batch, targets)[0]
    arrays = {"heatmap": sal / sal.max() if sal.max() > 0 else sal, "gradient": sal}
    title = f"saliency: {ctx.image.stem} → {ctx.about}"
    return Explanation("saliency", heatmap_figure(ctx.image.display, arrays["heatmap"], title, "|d score / d pixel|"),
                       arrays, title, prediction=ctx.prediction)
