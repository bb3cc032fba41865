"""`folder:PATH`: a folder of image files, labelled by class subfolder or flat."""

import warnings
from pathlib import Path

import numpy as np

from ..errors import ClustError
from .imageset import ImageSet
from .images import IMAGE_EXTENSIONS, check_fits, fit_image, read_image


def _is_image(path: Path) -> bool:
    """True for a visible file with an image extension (hidden files such as ``._x.png`` are skipped)."""
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _images_under(directory: Path) -> list[Path]:
    """Image files anywhere below `directory`, sorted, skipping hidden folders."""
    found = (path for path in directory.rglob("*") if _is_image(path))
    return sorted(path for path in found if not any(part.startswith(".") for part in path.relative_to(directory).parts))


def _list_files(root: Path) -> tuple[list[Path], list[int] | None]:
    """Find the image files and, for a class-folder layout, their labels.

    Subfolders holding images are classes, labelled 0.. in sorted name order (as
    torchvision's ImageFolder); without such subfolders the top-level files form
    an unlabelled set.
    """
    top_level = sorted(path for path in root.iterdir() if _is_image(path))
    subfolders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    classes = [(folder, files) for folder in subfolders if (files := _images_under(folder))]
    if not classes:
        return top_level, None
    if top_level:
        raise ClustError(f"folder {root} has images both at the top level and in subfolders: "
                         "put every image in a class subfolder, or use a flat folder")
    files = [path for _, class_files in classes for path in class_files]
    labels = [label for label, (_, class_files) in enumerate(classes) for _ in class_files]
    return files, labels


def load_folder(path: str, size: int | None = None) -> ImageSet:
    """Load every image of a folder; unreadable files are skipped with a warning.

    Grey images stay one channel unless the folder also holds colour images, in
    which case all become RGB.

    Args:
        path: The folder (``~`` is expanded).
        size: Resize every image to size x size (bilinear); needed when sizes differ.

    Returns:
        ImageSet named ``folder:<dirname>`` with the source file of every image.

    Raises:
        ClustError: If the folder is missing, holds no readable image, or sizes
            differ and no size was given.
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise ClustError(f"folder {root} does not exist (or is not a directory)")
    files, labels = _list_files(root)
    if not files:
        raise ClustError(f"folder {root} holds no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    if size is not None:
        check_fits(len(files), (3, size, size), f"data.size = {size}")
    arrays, kept = [], []
    for position, file in enumerate(files):
        try:
            arrays.append(read_image(file))
        except ClustError as exc:
            warnings.warn(f"skipping {exc}", stacklevel=3)
            continue
        kept.append(position)
    if not arrays:
        raise ClustError(f"folder {root}: none of its {len(files)} image files could be read")
    sizes = sorted({array.shape[:2] for array in arrays})
    if size is None and len(sizes) > 1:
        (h1, w1), (h2, w2) = sizes[0], sizes[-1]
        raise ClustError(f"folder {root} has images of different sizes ({h1}x{w1} and {h2}x{w2}): "
                         "pass a size to resize them to, e.g. --set data.size=N")
    height, width = (size, size) if size is not None else sizes[0]
    channels = max(array.shape[2] for array in arrays)
    images = np.stack([fit_image(array, (channels, height, width)) for array in arrays])
    return ImageSet(
        images=images,
        labels=None if labels is None else np.asarray([labels[i] for i in kept], dtype=np.int64),
        name=f"folder:{root.name}",
        paths=[str(files[i]) for i in kept],
    )
