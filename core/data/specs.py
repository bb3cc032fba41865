"""`load_dataset`: turn a dataset spec string into an ImageSet, one loader per source."""

from pathlib import Path

import numpy as np

from ..errors import ClustError
from .digits import load_digits
from .folder import load_folder
from .imageset import ImageSet
from .images import check_fits, resize_image
from .npz import load_npz
from .torchvision_sets import TORCHVISION_NAMES, load_torchvision

SPLITS = ("all", "train", "test")
ACCEPTED_FORMS = f"digits, {', '.join(TORCHVISION_NAMES)}, npz:PATH[+PATH...] or folder:PATH"


def _npz_paths(text: str) -> list[str]:
    """Split ``a.npz+b.npz`` into paths, unless the whole text names an existing file."""
    if Path(text).expanduser().is_file():
        return [text]
    parts = [part.strip() for part in text.split("+")]
    if not all(parts):
        raise ClustError(f"npz spec {text!r} has an empty path: write npz:A.npz+B.npz")
    return parts


def resize_imageset(imageset: ImageSet, size: int) -> ImageSet:
    """Resize every image to size x size (bilinear) unless it already is."""
    if (imageset.height, imageset.width) == (size, size):
        return imageset
    check_fits(imageset.n, (imageset.images.shape[3], size, size), f"data.size = {size}")
    images = np.stack([resize_image(image, size, size) for image in imageset.images])
    return ImageSet(images=images, labels=imageset.labels, name=imageset.name, paths=imageset.paths)


def load_dataset(spec: str, *, split: str = "all", root: str | Path | None = None,
                 download: bool = True, size: int | None = None) -> ImageSet:
    """Load a dataset from its spec.

    Specs: ``digits`` (scikit-learn's 8x8 digits, no download), ``mnist``,
    ``fashion-mnist``, ``usps``, ``cifar10``, ``cifar100-20``, ``stl10`` (through
    torchvision), ``npz:PATH[+PATH...]`` (archives concatenated in order) and
    ``folder:PATH`` (class subfolders or a flat folder). Names ignore case, and
    ``_`` may stand for ``-``.

    Args:
        spec: The dataset spec.
        split: ``"all"`` (train + test merged, the default), ``"train"`` or ``"test"``;
            only torchvision datasets have splits.
        root: Download folder for torchvision datasets (default ``~/.cache/clust/datasets``).
        download: Whether torchvision datasets may be downloaded.
        size: Resize all images to size x size (bilinear); a folder of mixed sizes needs it.

    Returns:
        The loaded ImageSet.

    Raises:
        ClustError: For an unknown spec, a bad split or size, or a source that fails to load.
    """
    if split not in SPLITS:
        raise ClustError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ClustError(f"data size must be a positive integer, got {size!r}")
    kind, colon, rest = spec.strip().partition(":")
    kind = kind.strip().lower().replace("_", "-")
    if colon and kind in ("npz", "folder"):
        if not rest.strip():
            raise ClustError(f"dataset spec {spec!r} needs a path after '{kind}:'")
        if split != "all":
            raise ClustError(f"{kind} datasets have no train/test split: use split 'all'")
        imageset = load_npz(_npz_paths(rest.strip())) if kind == "npz" else load_folder(rest.strip(), size)
    elif not colon and kind == "digits":
        if split != "all":
            raise ClustError("digits has no train/test split: use split 'all'")
        imageset = load_digits()
    elif not colon and kind in TORCHVISION_NAMES:
        imageset = load_torchvision(kind, split, root, download)
    else:
        raise ClustError(f"unknown dataset {spec!r}: use {ACCEPTED_FORMS}")
    return imageset if size is None else resize_imageset(imageset, size)
