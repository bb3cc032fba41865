"""Cutout (DeVries & Taylor, 2017): blank one square hole at a random centre."""

from collections.abc import Sequence
from typing import Any

import torch
from torchvision.transforms import v2

from ..errors import ClustError


class Cutout(v2.Transform):
    """Fill one square of random side and centre with a constant colour.

    The side is drawn uniformly from the integers ``min_side .. max_side``; the
    centre is a uniformly drawn pixel, and the part of the square outside the
    image is dropped (as SCAN and FixMatch do). Works on uint8 and float images.

    Args:
        max_side: Largest side in pixels.
        min_side: Smallest side in pixels (0 allows no hole at all).
        fill: Colour in [0, 1] units, one value or one per channel; scaled by 255
            for uint8 images.

    Raises:
        ClustError: If the sides are negative or out of order.
    """

    def __init__(self, max_side: int, min_side: int = 1, fill: float | Sequence[float] = 0.0) -> None:
        super().__init__()
        if not 0 <= min_side <= max_side:
            raise ClustError(f"cutout sides must satisfy 0 <= min_side <= max_side, got {min_side} and {max_side}")
        self.min_side = int(min_side)
        self.max_side = int(max_side)
        self.fill = (float(fill),) if isinstance(fill, int | float) else tuple(float(value) for value in fill)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the side and centre, and return the hole as row and column slices."""
        height, width = v2.query_size(flat_inputs)
        side = int(torch.randint(self.min_side, self.max_side + 1, ()).item())
        row = int(torch.randint(height, ()).item())
        col = int(torch.randint(width, ()).item())
        top, left = row - side // 2, col - side // 2
        rows = slice(max(top, 0), max(min(top + side, height), 0))
        cols = slice(max(left, 0), max(min(left + side, width), 0))
        return {"rows": rows, "cols": cols}

    def transform(self, inpt: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Return a copy of the image with the hole filled.

        Raises:
            ClustError: If the fill has neither 1 value nor one per channel.
        """
        channels = inpt.shape[-3]
        if len(self.fill) not in (1, channels):
            raise ClustError(f"cutout fill needs 1 or {channels} values, got {len(self.fill)}")
        fill = torch.tensor(self.fill, dtype=torch.float64)
        if not inpt.is_floating_point():
            fill = (fill * 255.0).round()
        out = inpt.clone()
        out[..., params["rows"], params["cols"]] = fill.to(inpt.dtype).view(-1, 1, 1)
        return out
