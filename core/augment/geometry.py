"""Batched flips, padded random crops and random resized crops with per-sample parameters.

A resized crop is separable: out = A_y X A_xᵀ, with A_y (H_out x H_in) and
A_x (W_out x W_in) holding the interpolation weights of each sample's crop.
The weights of a crop of size s are taken from torchvision's own resize of an
identity image (bilinear, antialiased), so a batched crop equals
``torchvision.transforms.v2.functional.resized_crop`` on each float image.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as F

from .basic import Params, Step
from .randomness import SampleRandom


class Flip(Step):
    """Horizontal flip of each sample with probability ``p``.

    Args:
        p: Probability per sample (0.5 in every paper here).
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """Whether each sample flips."""
        return {"flip": rand.chance(self.p)}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Mirror the chosen samples left to right."""
        return torch.where(params["flip"].view(-1, 1, 1, 1), images.flip(-1), images)


def _take(images: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """out[b, c, r, k] = images[b, c, rows[b, r], cols[b, k]]."""
    batch, channels, _, width = images.shape
    picked = images.gather(2, rows[:, None, :, None].expand(batch, channels, rows.shape[1], width))
    return picked.gather(3, cols[:, None, None, :].expand(batch, channels, rows.shape[1], cols.shape[1]))


class PadCrop(Step):
    """Zero-pad by (pad_x, pad_y), then crop H x W at a random offset (torchvision ``RandomCrop(padding=…)``).

    Args:
        pad_x: Columns of zeros added left and right.
        pad_y: Rows of zeros added top and bottom.
    """

    def __init__(self, pad_x: int, pad_y: int) -> None:
        self.pad_x, self.pad_y = int(pad_x), int(pad_y)

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """The crop's top and left in the padded image, each uniform over the valid offsets."""
        u = rand.uniform(2)
        return {"top": torch.floor(u[:, 0] * (2 * self.pad_y + 1)).to(torch.int64),
                "left": torch.floor(u[:, 1] * (2 * self.pad_x + 1)).to(torch.int64)}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Crop each sample at its offset; pixels from the padding are 0."""
        height, width = images.shape[-2:]
        padded = torch.nn.functional.pad(images, (self.pad_x, self.pad_x, self.pad_y, self.pad_y))
        rows = params["top"][:, None] + torch.arange(height, device=images.device)
        cols = params["left"][:, None] + torch.arange(width, device=images.device)
        return _take(padded, rows, cols)


def crop_box(rand: SampleRandom, height: int, width: int, scale: Sequence[float],
             ratio: Sequence[float], tries: int = 10) -> Params:
    """torchvision's ``RandomResizedCrop`` box, drawn per sample.

    Up to ``tries`` times: area fraction uniform in ``scale``, log aspect uniform
    in log ``ratio``; the first box that fits is placed uniformly. If none fits,
    the central crop with the aspect clamped to ``ratio``.

    Returns:
        int64 (B,) tensors ``top``, ``left``, ``height``, ``width``.
    """
    area = height * width
    u = rand.uniform(2 * tries)
    target = area * (scale[0] + (scale[1] - scale[0]) * u[:, :tries])
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_low + (log_high - log_low) * u[:, tries:])
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.to(torch.int64).argmax(dim=1, keepdim=True)
    found = fits.any(dim=1)
    w, h = w.gather(1, first)[:, 0].to(torch.int64), h.gather(1, first)[:, 0].to(torch.int64)
    in_ratio = width / height
    if in_ratio < min(ratio):
        fallback = (int(round(width / min(ratio))), width)
    elif in_ratio > max(ratio):
        fallback = (height, int(round(height * max(ratio))))
    else:
        fallback = (height, width)
    h = torch.where(found, h, fallback[0])
    w = torch.where(found, w, fallback[1])
    place = rand.uniform(2)
    top = torch.where(found, torch.floor(place[:, 0] * (height - h + 1)).to(torch.int64), (height - h) // 2)
    left = torch.where(found, torch.floor(place[:, 1] * (width - w + 1)).to(torch.int64), (width - w) // 2)
    return {"top": top, "left": left, "height": h, "width": w}


@lru_cache(maxsize=64)
def resize_table(size_in: int, size_out: int) -> Tensor:
    """T[s] (size_out x size_in): torchvision's antialiased bilinear weights resizing s pixels to size_out,
    in the first s columns, for s = 0..size_in (row 0 unused)."""
    table = torch.zeros(size_in + 1, size_out, size_in, dtype=torch.float32)
    for s in range(1, size_in + 1):
        eye = torch.eye(s, dtype=torch.float32)[None]
        table[s, :, :s] = F.resize(eye, [size_out, s], antialias=True)[0]
    return table


def crop_weights(size_in: int, size_out: int, start: Tensor, length: Tensor) -> Tensor:
    """(B, size_out, size_in) weights resizing pixels start..start+length-1 of each sample to size_out."""
    table = resize_table(size_in, size_out).to(start.device)[length]
    cols = torch.arange(size_in, device=start.device)[None, :] - start[:, None]
    inside = (cols >= 0) & (cols < length[:, None])
    index = cols.clamp(0, size_in - 1)[:, None, :].expand(-1, size_out, -1)
    return table.gather(2, index) * inside[:, None, :]


def resize_boxes(images: Tensor, params: Params, size: tuple[int, int]) -> Tensor:
    """Crop each float image to its box and resize it to ``size`` (H, W): A_y X A_xᵀ."""
    height, width = images.shape[-2:]
    rows = crop_weights(height, size[0], params["top"], params["height"]).to(images.dtype)
    cols = crop_weights(width, size[1], params["left"], params["width"]).to(images.dtype)
    return torch.matmul(torch.matmul(rows[:, None], images), cols.transpose(1, 2)[:, None])


class ResizedCrop(Step):
    """torchvision's ``RandomResizedCrop`` on float images, with a box per sample.

    Args:
        size: Output (H, W).
        scale: Range of the crop's area as a fraction of the image's.
        ratio: Range of the crop's aspect ratio (width / height).
    """

    def __init__(self, size: tuple[int, int], scale: Sequence[float], ratio: Sequence[float] = (3 / 4, 4 / 3)) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.scale, self.ratio = tuple(float(v) for v in scale), tuple(float(v) for v in ratio)

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """Each sample's box."""
        return crop_box(rand, shape[-2], shape[-1], self.scale, self.ratio)

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Crop and resize (float images)."""
        return resize_boxes(images, params, self.size)
