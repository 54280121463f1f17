"""Grad-CAM and Grad-CAM++: where in the image the evidence for a class lies, seen by one conv layer."""

from __future__ import annotations

from cnnlab.explain.context import ExplainContext
from cnnlab.explain.gradcam import class_heatmaps
from cnnlab.explain.methods import PER_IMAGE, method
from cnnlab.explain.render import heatmap_figure
from cnnlab.explain.result import Explanation
from cnnlab.explain.target_layers import require_spatial


def heatmap_of(ctx: ExplainContext, method_name: str, plus: bool) -> Explanation:
    name = ctx.one_layer(method_name, cam=True)
    require_spatial(ctx.layer(name), method_name, ctx.layers)
    forward, targets = ctx.class_scores()
    cams, heat = class_heatmaps(forward, ctx.model, name, ctx.image.batch, targets, plus=plus)
    title = f"{method_name}: {ctx.image.stem} → {ctx.about}"
    png = heatmap_figure(ctx.image.display, heat[0], title, f"{method_name} at {name}")
    return Explanation(method_name, png, {"heatmap": heat[0], "cam": cams[0]}, title, prediction=ctx.prediction,
                       layers=[name])


@method("gradcam", PER_IMAGE, "Class activation heatmap of one conv layer (default: the last conv's "
                              "block output, after its activation), overlaid on the image")
def gradcam(ctx: ExplainContext) -> Explanation:
    return heatmap_of(ctx, "gradcam", plus=False)


@method("gradcam++", PER_IMAGE, "Grad-CAM++: Grad-CAM with higher-order weights (several instances of a class)")
def gradcam_plus_plus(ctx: ExplainContext) -> Explanation:
    return heatmap_of(ctx, "gradcam++", plus=True)
