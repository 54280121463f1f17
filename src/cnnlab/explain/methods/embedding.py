"""Embedding: a t-SNE map of the features a split's images produce before the classifier."""

from __future__ import annotations

from cnnlab.explain import embedding as emb
from cnnlab.explain.collect import collect, subsample
from cnnlab.explain.context import ExplainContext
from cnnlab.explain.methods import WHOLE_SPLIT, method
from cnnlab.explain.result import Explanation
from cnnlab.explain.target_layers import get_module


@method("embedding", WHOLE_SPLIT, "t-SNE of the penultimate features (or --layer's output) of a split's images")
def embedding(ctx: ExplainContext, *, split: str = "test", limit: int | None = 1000, seed: int = 0,
              perplexity: float = 30.0, batch_size: int = 256) -> Explanation:
    images = subsample(ctx.split(split), limit, seed)
    if ctx.names:
        name = ctx.one_layer("embedding")
        module, use_input, what = get_module(ctx.model, name, ctx.layers), False, f"output of {name}"
    else:
        name, module = emb.penultimate_module(ctx.model)
        use_input, what = True, f"features entering {name}"
    feats = collect(ctx.model, module, images, ctx.loaded.preprocessing, lambda t: t.flatten(1), use_input,
                    batch_size).numpy()
    points = emb.tsne_points(feats, seed, perplexity)
    labels = images.labels.numpy()
    title = f"t-SNE of the {what}: {len(labels)} {split} images ({feats.shape[1]} values each)"
    return Explanation("embedding", emb.embedding_figure(points, labels, ctx.loaded.class_names, title),
                       {"points": points, "labels": labels}, title, layers=[name])
