"""Image files → prepared batches, streamed: what `predict` runs over a folder of any size.

Files are decoded and resized in DataLoader worker processes while the model scores the
previous batch, and only a few batches exist at any time (`workers × prefetch + 1`), so memory
is bounded by the batch size, not by the number of files. The old `predict` prepared every
file before the first batch: 4,000 photos for a 3×224 model peaked at 4.9 GB (issue 19 item 8).

Workers send uint8 images (a quarter of the bytes of floats); the main process normalises each
batch exactly as `cnnlab.inference.prepare_batch` does. A file that cannot be read travels as
its error text instead of an image, so one bad file never fails its batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from cnnlab.data.transforms import Preprocessing
from cnnlab.errors import CnnlabError
from cnnlab.inference import as_uint8_tensor

# Below this many files the workers' start-up (about 0.1–0.3 s each here) costs more than it saves.
MIN_FILES_FOR_WORKERS = 64


@dataclass
class FileBatch:
    """One batch: the normalised images of the files that were read, their positions in the file
    list, and (position, error) for the files that were not."""

    images: torch.Tensor
    positions: list[int]
    errors: list[tuple[int, str]]


class _PreparedFiles(Dataset):
    """Item i: (uint8 C×H×W at the model's input, or None; i; error text or None)."""

    def __init__(self, files: Sequence[Path], preprocessing: Preprocessing):
        self.files, self.pre = list(files), preprocessing

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | None, int, str | None]:
        path = self.files[i]
        if not path.exists():
            return None, i, "no such file or folder"
        try:
            return self.pre.prepare_uint8(as_uint8_tensor(path, self.pre.channels)), i, None
        except CnnlabError as e:
            return None, i, getattr(e, "reason", None) or str(e)


def _collate(items: list[tuple[torch.Tensor | None, int, str | None]]):
    ok = [(x, i) for x, i, _ in items if x is not None]
    images = torch.stack([x for x, _ in ok]) if ok else None
    return images, [i for _, i in ok], [(i, err) for x, i, err in items if x is None]


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)  # a worker decodes one image at a time; its resize needs no thread pool


def default_workers(n_files: int) -> int:
    """Worker processes for `n_files`: none for a few files, else up to 4 (fewer on fewer cores)."""
    if n_files < MIN_FILES_FOR_WORKERS:
        return 0
    return max(1, min(4, (os.cpu_count() or 1)))


def file_batches(files: Sequence[Path], preprocessing: Preprocessing, batch_size: int = 64,
                 workers: int | None = None) -> Iterator[FileBatch]:
    """Stream `files` as `FileBatch`es of up to `batch_size` files, in order.

    `workers=None` picks `default_workers(len(files))`; 0 reads the files in this process.
    """
    workers = default_workers(len(files)) if workers is None else workers
    loader = DataLoader(_PreparedFiles(files, preprocessing), batch_size=batch_size, shuffle=False,
                        num_workers=workers, collate_fn=_collate,
                        worker_init_fn=_one_thread if workers else None,
                        prefetch_factor=2 if workers else None)
    for images, positions, errors in loader:
        normalised = preprocessing.normalize(images) if images is not None else None
        yield FileBatch(normalised, positions, errors)
