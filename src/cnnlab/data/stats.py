"""Numbers about a data set: images per class per split, image sizes, channel mean and std."""

from __future__ import annotations

from collections import Counter
from typing import Any

from cnnlab.data.bundle import SPLIT_NAMES, DataBundle
from cnnlab.data.transforms import compute_mean_std


def data_stats(data: DataBundle) -> dict[str, Any]:
    """Class counts per split, original and model image sizes, and training-split mean/std."""
    counts = {name: dict(zip(data.class_names, data.class_counts(name)))
              for name in SPLIT_NAMES if getattr(data, name) is not None}
    sizes: Counter = Counter()
    for name in SPLIT_NAMES:
        s = getattr(data, name)
        if s is not None and s.sizes:
            sizes.update(s.sizes)
    train = data.train
    if train.images is not None:
        mean, std = compute_mean_std(train.images)
    else:
        mean, std = data.preprocessing.mean, data.preprocessing.std
    heights = [h for (h, _w), k in sizes.items() for _ in range(k)]
    widths = [w for (_h, w), k in sizes.items() for _ in range(k)]
    return {
        "name": data.name,
        "classes": data.class_names,
        "counts": counts,
        "input_size": list(data.input_size),
        "channels": data.channels,
        "original_sizes": {
            "most_common": [[h, w, k] for (h, w), k in sizes.most_common(5)],
            "height_range": [min(heights), max(heights)] if heights else None,
            "width_range": [min(widths), max(widths)] if widths else None,
        },
        "mean": list(mean),
        "std": list(std),
        "normalization": {"mean": list(data.preprocessing.mean), "std": list(data.preprocessing.std)},
        "skipped": [{"path": s.path, "reason": s.reason} for s in data.skipped],
    }
