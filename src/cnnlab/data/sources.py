"""Built-in data sets: scikit-learn's digits (ships offline), and MNIST, Fashion-MNIST and
CIFAR-10 through torchvision, each read into uint8 tensors N×C×H×W.

The data root comes from the `data_root` argument, else the CNNLAB_DATA environment variable,
else ./data. Files are downloaded only when asked; when they are missing the error lists the
exact files and where to put them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cnnlab.errors import DataError


@dataclass
class RawDataset:
    """A built-in data set as read from disk: train (and test, if it has one) images and labels."""

    name: str
    class_names: list[str]
    train_images: torch.Tensor  # uint8 N×C×H×W
    train_labels: torch.Tensor  # int64 N
    test_images: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None


def resolve_data_root(data_root: str | Path | None = None) -> Path:
    """`data_root` if given, else $CNNLAB_DATA, else ./data."""
    if data_root is not None:
        return Path(data_root).expanduser()
    env = os.environ.get("CNNLAB_DATA")
    return Path(env).expanduser() if env else Path("data")


def _require_files(root: Path, folder: str, files: list[str], name: str, download_hint: str) -> None:
    missing = [f for f in files if not (root / folder / f).is_file()]
    if missing:
        listing = "\n".join(f"  {root / folder / f}" for f in missing)
        raise DataError(
            f"{name}: data files not found under {root / folder}:\n{listing}\n"
            f"Put them there (or point --data-root / CNNLAB_DATA at a folder holding {folder}/), "
            f"or pass --download to fetch them{download_hint}.")


def _download_failed(name: str, urls: list[str], target: Path, contents: str, error: BaseException) -> DataError:
    """One line for a --download that could not reach the network: which files, from where, and
    where to put them (these machines are often offline; the traceback says none of that)."""
    lines = [line.strip() for line in str(getattr(error, "reason", None) or error).splitlines() if line.strip()]
    reason = lines[-1] if lines else type(error).__name__  # torchvision's mirror loop ends with the last error
    return DataError(f"{name}: --download could not fetch {' and '.join(urls)} ({reason}); download "
                     f"{'them' if len(urls) > 1 or '{' in urls[0] else 'it'} where the network is reachable and put {contents} "
                     f"into {target}/")


def load_digits() -> RawDataset:
    """scikit-learn's bundled 8×8 digits (1,797 images), scaled from 0–16 to 0–255."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images = np.round(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return RawDataset("digits", [str(i) for i in range(10)],
                      torch.from_numpy(images)[:, None].contiguous(), torch.from_numpy(d.target).long())


_MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _load_mnist_like(cls_name: str, folder: str, class_names: list[str] | None,
                     root: Path, download: bool) -> RawDataset:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    if not download:
        _require_files(root, f"{folder}/raw", _MNIST_FILES, cls_name,
                       " (or copy the four uncompressed IDX files from the data set's site)")
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except (RuntimeError, OSError) as e:  # torchvision's "Dataset not found or corrupted", "Error downloading"
        if download and (isinstance(e, OSError) or "download" in str(e).lower()):
            gz = ", ".join(file for file, _ in cls.resources)
            raise _download_failed(cls_name, [f"{cls.mirrors[0]}{{{gz}}}"], root / folder / "raw",
                                   "the four files, uncompressed (" + ", ".join(_MNIST_FILES) + "),", e) from None
        raise DataError(f"{cls_name} under {root}: {e}") from None
    names = class_names or [str(i) for i in range(10)]
    return RawDataset(folder.lower(), names, train.data[:, None].contiguous(), train.targets.long(),
                      test.data[:, None].contiguous(), test.targets.long())


def load_mnist(root: Path, download: bool = False) -> RawDataset:
    """MNIST from `root`/MNIST/raw (torchvision's layout): 60,000 train and 10,000 test digits."""
    return _load_mnist_like("MNIST", "MNIST", None, root, download)


def load_fashion_mnist(root: Path, download: bool = False) -> RawDataset:
    """Fashion-MNIST from `root`/FashionMNIST/raw: 10 clothing classes, 28×28 grey."""
    import torchvision.datasets as tvd

    raw = _load_mnist_like("FashionMNIST", "FashionMNIST", list(tvd.FashionMNIST.classes), root, download)
    raw.name = "fashion-mnist"
    return raw


def load_cifar10(root: Path, download: bool = False) -> RawDataset:
    """CIFAR-10 from `root`/cifar-10-batches-py: 50,000 train and 10,000 test 32×32 colour images."""
    import torchvision.datasets as tvd

    if not download:
        files = [f for f, _ in tvd.CIFAR10.train_list + tvd.CIFAR10.test_list] + ["batches.meta"]
        _require_files(root, tvd.CIFAR10.base_folder, files, "CIFAR10",
                       " (or unpack cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html)")
    try:
        train = tvd.CIFAR10(str(root), train=True, download=download)
        test = tvd.CIFAR10(str(root), train=False, download=download)
    except OSError as e:  # urllib's URLError (no network) is an OSError
        if not download:
            raise DataError(f"CIFAR10 under {root}: {e}") from None
        raise _download_failed("CIFAR10", [tvd.CIFAR10.url], root, f"the unpacked {tvd.CIFAR10.base_folder}/ folder "
                               "(data_batch_1 to _5, test_batch, batches.meta)", e) from None
    except RuntimeError as e:
        raise DataError(f"CIFAR10 under {root}: {e}") from None

    def to_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))

    return RawDataset("cifar10", list(train.classes), to_tensor(train.data), torch.tensor(train.targets),
                      to_tensor(test.data), torch.tensor(test.targets))


BUILTIN_SOURCES: dict[str, Callable[..., RawDataset]] = {
    "digits": lambda root, download: load_digits(),
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}
