"""Top images: the images of a split that most excite one channel of a layer."""

from __future__ import annotations

import numpy as np
import torch

from cnnlab.errors import ConfigError
from cnnlab.explain.collect import collect, subsample
from cnnlab.explain.context import ExplainContext
from cnnlab.explain.inputs import display_images
from cnnlab.explain.methods import WHOLE_SPLIT, method
from cnnlab.explain.render import scale01, tile_grid_figure
from cnnlab.explain.result import Explanation
from cnnlab.explain.target_layers import get_module
from cnnlab.explain.top_images import channel_score


@method("top-images", WHOLE_SPLIT, "The N images of a split with the highest peak activation of one channel")
def top_images(ctx: ExplainContext, *, split: str = "test", limit: int | None = None, seed: int = 0,
               channel: int = 0, n: int = 16, batch_size: int = 256) -> Explanation:
    name = ctx.one_layer("top-images")
    info = ctx.layer(name)
    channel = int(channel)
    if not 0 <= channel < info.output_shape[0]:
        raise ConfigError(f"channel {channel}: layer {name!r} has {info.output_shape[0]} channels "
                          f"(expected 0 to {info.output_shape[0] - 1})")
    images = subsample(ctx.split(split), limit, seed)
    module = get_module(ctx.model, name, ctx.layers)
    pre = ctx.loaded.preprocessing
    scores = collect(ctx.model, module, images, pre, channel_score(channel), batch_size=batch_size).numpy()
    n = min(int(n), len(scores))
    top = np.argsort(-scores, kind="stable")[:n]
    uint8 = images.uint8_images(torch.as_tensor(top, dtype=torch.long), pre)
    shown = display_images(ctx.loaded, pre.normalize(uint8))
    labels = [f"{ctx.loaded.class_names[int(images.labels[i])]} {scores[i]:.2f}" for i in top]
    title = f"top {n} {split} images for channel {channel} of {name} (peak activation)"
    png = tile_grid_figure([scale01(s) if s.ndim == 2 else s for s in shown], title, cmap="gray", labels=labels,
                           tile_inches=1.0)
    return Explanation("top-images", png, {"indices": top, "scores": scores[top], "images": uint8.numpy()}, title,
                       layers=[f"{name}-ch{channel}"])
