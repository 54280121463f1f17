"""Filters: the weights of a conv layer (default: the first) drawn as small images."""

from __future__ import annotations

from cnnlab.explain import filters as flt
from cnnlab.explain.context import ExplainContext
from cnnlab.explain.methods import WHOLE_MODEL, method
from cnnlab.explain.result import Explanation
from cnnlab.explain.target_layers import LayerError, first_conv, get_module, is_conv


@method("filters", WHOLE_MODEL, "The weights of a conv layer (default: the first) as small images")
def filters(ctx: ExplainContext, *, max_filters: int = 64) -> Explanation:
    name = ctx.one_layer("filters") if ctx.names else first_conv(ctx.model)
    module = get_module(ctx.model, name, ctx.layers)
    if not is_conv(module):
        raise LayerError(f"layer {name!r} ({type(module).__name__}) has no convolution filters; "
                         f"filters needs a conv layer, e.g. {first_conv(ctx.model)!r}")
    png = flt.filters_figure(module, name, max_filters)
    return Explanation("filters", png, {"weights": module.weight.detach().cpu().numpy()}, f"filters of {name}",
                       layers=[name])
