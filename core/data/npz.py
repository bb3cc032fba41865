"""`npz:PATH[+PATH...]`: NumPy archives holding `images` and optional `labels`."""

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ClustError
from .imageset import ImageSet
from .reason import describe


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read and check one archive.

    Returns:
        images as N x H x W x C uint8 (a channel axis is added to N x H x W) and
        labels as an integer array (N,) or None.

    Raises:
        ClustError: Naming the file, if it is missing, unreadable or malformed.
    """
    if not path.is_file():
        raise ClustError(f"npz file {path} does not exist (or is not a file)")
    errors = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        loaded = np.load(path, allow_pickle=False)
    except errors as exc:
        raise ClustError(f"cannot read npz file {path} ({describe(exc)})") from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ClustError(f"{path} holds a single .npy array, not an .npz archive with 'images'")
    with loaded as archive:
        if "images" not in archive.files:
            raise ClustError(f"npz file {path} has no 'images' array (it has: {', '.join(archive.files) or 'nothing'})")
        try:
            images = archive["images"]
            labels = archive["labels"] if "labels" in archive.files else None
        except errors as exc:
            raise ClustError(f"cannot read npz file {path} ({describe(exc)})") from exc
    if images.dtype != np.uint8:
        raise ClustError(f"npz file {path}: images must be uint8 (0-255), got {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[3] not in (1, 3):
        raise ClustError(f"npz file {path}: images must be N x H x W or N x H x W x C (C = 1 or 3, channels last), "
                         f"got shape {images.shape}")
    if labels is not None and (labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer)):
        raise ClustError(f"npz file {path}: labels must be {images.shape[0]} integers, "
                         f"got {labels.dtype} of shape {labels.shape}")
    return images, labels


def load_npz(paths: list[str]) -> ImageSet:
    """Load one archive or concatenate several in order (e.g. train then test).

    Args:
        paths: Archive paths (``~`` is expanded).

    Returns:
        ImageSet named ``npz:<stem>[+<stem>...]``.

    Raises:
        ClustError: If a file is bad, the image shapes differ, or only some files have labels.
    """
    files = [Path(path).expanduser() for path in paths]
    parts = [_read_npz(path) for path in files]
    first_images, first_labels = parts[0]
    for path, (images, labels) in zip(files[1:], parts[1:]):
        if images.shape[1:] != first_images.shape[1:]:
            raise ClustError(f"npz file {path}: images are {'x'.join(map(str, images.shape[1:]))} but "
                             f"{files[0]} has {'x'.join(map(str, first_images.shape[1:]))}")
        if (labels is None) != (first_labels is None):
            missing = path if labels is None else files[0]
            raise ClustError(f"npz file {missing} has no labels but other files do: give labels in all or none")
    all_images = np.concatenate([images for images, _ in parts]) if len(parts) > 1 else first_images
    all_labels = None if first_labels is None else np.concatenate([labels for _, labels in parts])
    return ImageSet(images=all_images, labels=all_labels, name="npz:" + "+".join(path.stem for path in files))
