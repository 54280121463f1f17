"""Patterns: inputs that most excite each filter of a layer, found by gradient ascent (the Keras book)."""

from __future__ import annotations

import io

import numpy as np

from cnnlab.explain import patterns as pat
from cnnlab.explain.context import ExplainContext
from cnnlab.explain.methods import WHOLE_MODEL, method
from cnnlab.explain.render import tile_grid_figure
from cnnlab.explain.result import Explanation
from cnnlab.explain.target_layers import default_layer, require_spatial


@method("patterns", WHOLE_MODEL, "Inputs that maximise each of the first N filters, by gradient ascent")
def patterns(ctx: ExplainContext, *, n: int = 16, steps: int = 40, step_size: float = 0.05,
             seed: int = 0) -> Explanation:
    chosen = ctx.names or [default_layer(ctx.model, ctx.layers)]
    arrays: dict[str, np.ndarray] = {}
    pngs = []
    for name in chosen:
        info = ctx.layer(name)
        require_spatial(info, "patterns", ctx.layers)
        filters = list(range(min(n, info.output_shape[0])))
        x, start, end = pat.gradient_ascent(ctx.model, name, ctx.loaded.preprocessing, filters, steps, step_size,
                                            seed=seed)
        arrays.update({f"patterns/{name}": x.numpy(), f"start/{name}": start, f"end/{name}": end})
        tiles = list(pat.deprocess(x))
        pngs.append(tile_grid_figure(tiles, f"patterns of {name}: inputs maximising filters 0–{len(filters) - 1}",
                                     labels=[f"{f}: {a:.1f}" for f, a in zip(filters, end)], cmap="gray",
                                     tile_inches=1.1))
    first = chosen[0]
    arrays.update({"patterns": arrays[f"patterns/{first}"], "activation_start": arrays[f"start/{first}"],
                   "activation_end": arrays[f"end/{first}"]})
    return Explanation("patterns", stack_pngs(pngs), arrays, f"patterns of {', '.join(chosen)}", layers=list(chosen))


def stack_pngs(pngs: list[bytes]) -> bytes:
    """Several figures one above the other (a grid per layer) as one PNG."""
    if len(pngs) == 1:
        return pngs[0]
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
