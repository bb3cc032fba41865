"""`MultiViewDataset`: each item is an index plus several independently augmented views."""

from collections.abc import Callable, Mapping, Sequence

import torch
from torch.utils.data import Dataset

from ..errors import ClustError
from .imageset import ImageSet

View = Callable[[torch.Tensor], torch.Tensor]


class MultiViewDataset(Dataset):
    """A torch Dataset giving ``{"index": i, <view>: view(image_i), ...}``.

    Views run per sample, so every sample (and every call) draws its own random
    parameters: torchvision's v2 transforms would draw one set for a whole batch.
    Each view gets a fresh uint8 C x H x W tensor, so views cannot disturb each
    other. Labels are never returned. The default collate function batches the
    items (indices into an int64 tensor, views stacked).

    Args:
        imageset: The images.
        views: View name -> transform from a uint8 C x H x W tensor to a tensor,
            applied in this order.

    Raises:
        ClustError: If a view is named ``"index"``.
    """

    def __init__(self, imageset: ImageSet, views: Mapping[str, View]) -> None:
        if "index" in views:
            raise ClustError("a view cannot be named 'index': that key holds the sample's position")
        self.imageset = imageset
        self.views: dict[str, View] = dict(views)

    @property
    def view_names(self) -> tuple[str, ...]:
        """The names of the views, in order."""
        return tuple(self.views)

    def select(self, names: Sequence[str]) -> "MultiViewDataset":
        """A dataset over the same images with only some of the views, in the order given.

        Args:
            names: View names to keep.

        Raises:
            ClustError: If a name is not one of this dataset's views.
        """
        unknown = [name for name in names if name not in self.views]
        if unknown:
            raise ClustError(f"unknown view {unknown[0]!r}: this dataset has {', '.join(self.views) or 'no views'}")
        return MultiViewDataset(self.imageset, {name: self.views[name] for name in names})

    def __len__(self) -> int:
        """Number of images."""
        return self.imageset.n

    def __getitem__(self, index: int) -> dict[str, int | torch.Tensor]:
        """Return the sample's index and each view of its image."""
        position = int(index)
        pixels = self.imageset.images[position].transpose(2, 0, 1)
        item: dict[str, int | torch.Tensor] = {"index": position}
        for name, view in self.views.items():
            item[name] = view(torch.from_numpy(pixels.copy()))
        return item

