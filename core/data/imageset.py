"""`ImageSet`: a dataset held in memory as one uint8 array, with optional labels."""

from collections.abc import Sequence

import attrs
import numpy as np

from ..errors import ClustError


def _as_labels(labels: object) -> np.ndarray | None:
    """Convert integer labels to int64, leaving anything else for validation to reject."""
    if labels is None:
        return None
    array = np.asarray(labels)
    return array.astype(np.int64) if np.issubdtype(array.dtype, np.integer) else array


def _as_paths(paths: Sequence[str] | None) -> tuple[str, ...] | None:
    """Store source paths as a tuple of strings."""
    return None if paths is None else tuple(str(path) for path in paths)


@attrs.frozen(eq=False)
class ImageSet:
    """Images of one dataset, channels last, with optional ground-truth labels.

    Labels serve evaluation only; training never sees them.

    Attributes:
        images: uint8 array N x H x W x C with C = 1 (grey) or 3 (RGB).
        labels: int64 array (N,) of class labels, or None for unlabelled data.
        name: Canonical dataset name, e.g. ``"digits"``, ``"npz:mnist_test"`` or
            ``"folder:photos"``.
        paths: The source file of each image (folder datasets only), else None.
    """

    images: np.ndarray
    labels: np.ndarray | None = attrs.field(default=None, converter=_as_labels)
    name: str = "unnamed"
    paths: tuple[str, ...] | None = attrs.field(default=None, converter=_as_paths)

    def __attrs_post_init__(self) -> None:
        """Check dtype, layout, channel count and the lengths of labels and paths.

        Raises:
            ClustError: If any of them is wrong.
        """
        images = self.images
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            kind = getattr(images, "dtype", type(images).__name__)
            raise ClustError(f"dataset {self.name}: images must be a uint8 array, got {kind}")
        if images.ndim != 4:
            raise ClustError(f"dataset {self.name}: images must be N x H x W x C, got shape {images.shape}")
        if images.shape[3] not in (1, 3):
            raise ClustError(f"dataset {self.name}: images need 1 or 3 channels (last axis), got shape {images.shape}")
        if images.shape[0] == 0:
            raise ClustError(f"dataset {self.name} has no images")
        if self.labels is not None:
            if not np.issubdtype(self.labels.dtype, np.integer):
                raise ClustError(f"dataset {self.name}: labels must be integers, got {self.labels.dtype}")
            if self.labels.shape != (self.n,):
                raise ClustError(f"dataset {self.name}: {self.n} images but labels have shape {self.labels.shape}")
        if self.paths is not None and len(self.paths) != self.n:
            raise ClustError(f"dataset {self.name}: {self.n} images but {len(self.paths)} paths")

    @property
    def n(self) -> int:
        """Number of images."""
        return int(self.images.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one image as (C, H, W), the layout networks take."""
        _, height, width, channels = self.images.shape
        return int(channels), int(height), int(width)

    @property
    def channels(self) -> int:
        """Number of channels (1 or 3)."""
        return self.shape[0]

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self.shape[1]

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self.shape[2]

    @property
    def n_classes(self) -> int | None:
        """Number of distinct labels, or None when the set is unlabelled."""
        return None if self.labels is None else int(np.unique(self.labels).size)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "ImageSet":
        """Select images (and their labels and paths) by position.

        Args:
            indices: Positions to keep, in the order wanted; a boolean mask also works.

        Returns:
            A new ImageSet with the same name.

        Raises:
            ClustError: If an index is out of range or the selection is empty.
        """
        index = np.asarray(indices)
        if index.dtype == bool:
            if index.shape != (self.n,):
                raise ClustError(f"dataset {self.name}: boolean subset mask needs {self.n} entries")
            index = np.flatnonzero(index)
        index = index.astype(np.int64).reshape(-1)
        if index.size and (index.min() < -self.n or index.max() >= self.n):
            raise ClustError(f"dataset {self.name}: subset index out of range for {self.n} images")
        return ImageSet(
            images=self.images[index],
            labels=None if self.labels is None else self.labels[index],
            name=self.name,
            paths=None if self.paths is None else [self.paths[i] for i in index],
        )
