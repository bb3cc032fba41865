"""Shared pieces: the transform type, shape checks, uint8 -> [0, 1] conversion and `clean`."""

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchvision.transforms import v2

from ..errors import ClustError

Transform = Callable[[torch.Tensor], torch.Tensor]
AugmentationFactory = Callable[..., Transform]

# ITU-R 601-2 luma weights (torchvision's rgb_to_grayscale): grey value of an RGB fill colour.
_LUMA = (0.299, 0.587, 0.114)


def check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate an image shape (C, H, W) with C = 1 or 3.

    Raises:
        ClustError: If the shape has the wrong length, channel count or a size below 1.
    """
    values = tuple(int(value) for value in shape)
    if len(values) != 3 or values[0] not in (1, 3) or min(values) < 1:
        raise ClustError(f"image shape must be (C, H, W) with C = 1 or 3, got {tuple(shape)}")
    return values  # type: ignore[return-value]


def fill_for(channels: int, rgb: Sequence[float]) -> tuple[float, ...]:
    """A fill colour for `channels`: the RGB triple itself, or its luma for grey images."""
    return tuple(rgb) if channels == 3 else (sum(w * c for w, c in zip(_LUMA, rgb)),)


class ToUnitFloat(v2.Transform):
    """Convert a uint8 image to float32 in [0, 1], exactly ``x / 255``."""

    def transform(self, inpt: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Divide by 255.

        Raises:
            ClustError: If the image is not uint8.
        """
        if inpt.dtype != torch.uint8:
            raise ClustError(f"augmentations take uint8 images, got {inpt.dtype}")
        return inpt.to(torch.float32).div(255.0)


def clean(shape: tuple[int, int, int], *, grayscale: bool = False) -> Transform:
    """No augmentation: the image as float in [0, 1] (the evaluation view).

    Args:
        shape: (C, H, W) of the input.
        grayscale: Convert RGB to one grey channel first, as DCCS's clean view does
            (dccs.md §4: "[Grayscale(1)], ToTensor"); grey input is unchanged.

    Returns:
        uint8 C x H x W -> float32 C x H x W (1 x H x W with grayscale).
    """
    channels, _, _ = check_shape(shape)
    steps: list[Transform] = [v2.Grayscale(1)] if grayscale and channels == 3 else []
    return v2.Compose([*steps, ToUnitFloat()])
