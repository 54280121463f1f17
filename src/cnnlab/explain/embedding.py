"""t-SNE of the penultimate-layer features of a split (CS231n's "t-SNE of CNN codes"): images
the network finds alike land together, so well-learned classes form separate clusters.
The features are what enters the last Linear layer; scikit-learn's TSNE maps them to 2-D."""

from __future__ import annotations

import numpy as np
from torch import nn

from cnnlab.explain.target_layers import LayerError
from cnnlab.explain.render import new_figure, to_png


def penultimate_module(model: nn.Module) -> tuple[str, nn.Module]:
    """The last Linear layer (its input is the penultimate features), or the last conv."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if linears:
        return linears[-1]
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]
    if not convs:
        raise LayerError(f"{type(model).__name__}: no Linear or conv layer to take features from; pass layer=...")
    return convs[-1]


def tsne_points(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """N×D → N×2 by t-SNE (PCA initialisation: stable layouts across runs)."""
    from sklearn.manifold import TSNE

    n = len(features)
    if n < 5:
        raise LayerError(f"embedding: {n} images are too few for t-SNE (need at least 5)")
    perplexity = min(perplexity, (n - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        features.astype(np.float32))


def embedding_figure(points: np.ndarray, labels: np.ndarray, class_names: list[str], title: str) -> bytes:
    """A scatter plot coloured by true class, with a legend."""
    fig = new_figure(7.5, 6.5)
    ax = fig.add_subplot(1, 1, 1)
    cmap = "tab10" if len(class_names) <= 10 else "tab20"
    from matplotlib import colormaps

    colours = colormaps[cmap]
    for k, name in enumerate(class_names):
        sel = labels == k
        if sel.any():
            ax.scatter(points[sel, 0], points[sel, 1], s=6, color=colours(k % colours.N), label=name, alpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(class_names) <= 20:
        ax.legend(markerscale=3, fontsize=8, loc="best")
    ax.set_title(title, fontsize=10)
    return to_png(fig)
