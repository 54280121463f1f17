"""Data: sources (built-in sets, image folders), preprocessing, batched augmentation, splits,
previews and statistics.

    from cnnlab.data import load_data
    from cnnlab.data.augment import resolve_augment
    data = load_data("mnist", data_root="../shared/data")
    for x, y in data.loader("train", 64, augment=resolve_augment("light")):
        ...

The rest is importable from its module: `bundle` (DataConfig, DataBundle),
`stratify` (stratified_split, stratified_subset),
`augment` (Augment, resolve_augment, AUGMENT_PRESETS), `transforms` (Preprocessing),
`folders`, `images`, `loaders`, `sources`, `split`, `preview`, `stats`.
"""

from cnnlab.data.bundle import load_data

__all__ = ["load_data"]
