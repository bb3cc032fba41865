"""Cutout (DeVries & Taylor, 2017, arXiv:1708.04552): blank one square hole per sample at a random centre."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import ClustError
from .basic import Params, Step
from .randomness import SampleRandom


class Cutout(Step):
    """Fill one square of random side and centre with a constant colour, per sample.

    The side is drawn uniformly from the integers ``min_side .. max_side``; the
    centre is a uniformly drawn pixel, and the part of the square outside the
    image is dropped (as SCAN and FixMatch do). Works on uint8 and float images.

    Args:
        max_side: Largest side in pixels.
        min_side: Smallest side in pixels (0 allows no hole at all).
        fill: Colour in [0, 1] units, one value or one per channel; scaled by 255
            (and rounded) for uint8 images.

    Raises:
        ClustError: If the sides are negative or out of order.
    """

    def __init__(self, max_side: int, min_side: int = 1, fill: float | Sequence[float] = 0.0) -> None:
        if not 0 <= min_side <= max_side:
            raise ClustError(f"cutout sides must satisfy 0 <= min_side <= max_side, got {min_side} and {max_side}")
        self.min_side = int(min_side)
        self.max_side = int(max_side)
        self.fill = (float(fill),) if isinstance(fill, int | float) else tuple(float(value) for value in fill)

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """Each sample's side and centre (row, column)."""
        height, width = shape[-2:]
        highs = torch.tensor([self.max_side + 1.0, height, width], dtype=torch.float64, device=rand.device)
        lows = torch.tensor([self.min_side, 0.0, 0.0], dtype=torch.float64, device=rand.device)
        picks = torch.floor(lows + rand.uniform(3) * (highs - lows)).to(torch.int64)
        return {"side": picks[:, 0], "row": picks[:, 1], "col": picks[:, 2]}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Return the images with each hole filled.

        Raises:
            ClustError: If the fill has neither 1 value nor one per channel.
        """
        channels, height, width = images.shape[-3:]
        if len(self.fill) not in (1, channels):
            raise ClustError(f"cutout fill needs 1 or {channels} values, got {len(self.fill)}")
        fill = torch.tensor(self.fill, dtype=torch.float64)
        if not images.is_floating_point():
            fill = (fill * 255.0).round()
        fill = fill.to(images.dtype).to(images.device).view(1, -1, 1, 1)
        side = params["side"]
        top, left = params["row"] - side // 2, params["col"] - side // 2
        rows = torch.arange(height, device=images.device)[None, :]
        cols = torch.arange(width, device=images.device)[None, :]
        in_rows = (rows >= top[:, None]) & (rows < (top + side)[:, None])
        in_cols = (cols >= left[:, None]) & (cols < (left + side)[:, None])
        hole = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
        return torch.where(hole, fill.expand_as(images), images)
