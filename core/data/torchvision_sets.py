"""Benchmark datasets downloaded through torchvision: MNIST, Fashion-MNIST, USPS, CIFAR, STL-10."""

from pathlib import Path

import numpy as np
import torch
import torchvision.datasets

from ..errors import ClustError
from .cifar100 import CIFAR100_COARSE
from .imageset import ImageSet
from .reason import describe

DEFAULT_ROOT = Path("~/.cache/clust/datasets")

# canonical name -> (torchvision class, how it names a split: "train" flag or "split" string)
_SOURCES: dict[str, tuple[str, str]] = {
    "mnist": ("MNIST", "train"),
    "fashion-mnist": ("FashionMNIST", "train"),
    "usps": ("USPS", "train"),
    "cifar10": ("CIFAR10", "train"),
    "cifar100-20": ("CIFAR100", "train"),
    "stl10": ("STL10", "split"),  # the labelled train and test parts; "unlabeled" is never loaded
}
TORCHVISION_NAMES: tuple[str, ...] = tuple(_SOURCES)


def _load_part(name: str, part: str, root: Path, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """Load one split as (N x H x W x C uint8 images, int64 labels)."""
    class_name, split_style = _SOURCES[name]
    dataset_class = getattr(torchvision.datasets, class_name)
    split_kwargs = {"split": part} if split_style == "split" else {"train": part == "train"}
    try:
        dataset = dataset_class(str(root), download=download, **split_kwargs)
    except Exception as exc:  # downloads and archives fail in many ways (URLError, md5 mismatch, bad tar, ...)
        raise ClustError(f"could not load {name} from torchvision ({describe(exc)}): "
                         "no network? pass npz:PATH instead") from exc
    data = dataset.data
    images = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if name == "stl10":  # stored channels first
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 3:
        images = images[..., None]
    targets = dataset.labels if name == "stl10" else dataset.targets
    labels = targets.numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    return np.ascontiguousarray(images, dtype=np.uint8), labels.astype(np.int64)


def load_torchvision(name: str, split: str, root: str | Path | None, download: bool) -> ImageSet:
    """Load a benchmark by canonical name, downloading it into `root` when allowed.

    Args:
        name: One of TORCHVISION_NAMES. ``cifar100-20`` maps CIFAR-100's fine labels
            to the 20 superclasses.
        split: ``"all"`` (train then test, the clustering papers' protocol), ``"train"`` or ``"test"``.
        root: Download folder; default ``~/.cache/clust/datasets``.
        download: Download missing files (needs a network).

    Returns:
        ImageSet with the canonical name.

    Raises:
        ClustError: If the files are missing and cannot be downloaded, or are corrupt.
    """
    folder = Path(root if root is not None else DEFAULT_ROOT).expanduser()
    parts = [_load_part(name, part, folder, download) for part in (("train", "test") if split == "all" else (split,))]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    if name == "cifar100-20":
        labels = np.asarray(CIFAR100_COARSE, dtype=np.int64)[labels]
    return ImageSet(images=images, labels=labels, name=name)
