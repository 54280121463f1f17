"""Data: sources (built-in sets, image folders), preprocessing, batched augmentation, splits,
previews and statistics.

    from cnnlab.data import load_data, resolve_augment
    data = load_data("mnist", data_root="../shared/data")
    for x, y in data.loader("train", 64, augment=resolve_augment("light")):
        ...
"""

from cnnlab.data.augment import AUGMENT_PRESETS, Augment, augment_batch, resolve_augment, warn_if_flip_mislabels
from cnnlab.data.bundle import DataBundle, DataConfig, load_data, stratified_split
from cnnlab.data.folders import FolderScan, SkippedFile, scan_folder
from cnnlab.data.images import IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, decode_image, read_image
from cnnlab.data.loaders import BatchLoader, Split
from cnnlab.data.sources import resolve_data_root
from cnnlab.data.transforms import Preprocessing, compute_mean_std

__all__ = [
    "AUGMENT_PRESETS", "Augment", "augment_batch", "resolve_augment", "warn_if_flip_mislabels",
    "DataBundle", "DataConfig", "load_data", "stratified_split",
    "FolderScan", "SkippedFile", "scan_folder",
    "IMAGE_EXTENSIONS", "MAX_IMAGE_PIXELS", "decode_image", "read_image",
    "BatchLoader", "Split", "resolve_data_root", "Preprocessing", "compute_mean_std",
]
