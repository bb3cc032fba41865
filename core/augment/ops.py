"""The RandAugment image operations of SCAN and FixMatch, batched, with a magnitude per sample.

Each op takes uint8 images (B x C x H x W, or one C x H x W image) and a
magnitude ``v`` (a number, or one per sample) and follows the PIL version of
the authors' code through torchvision's tensor kernels: enhancement factors as
in ``ImageEnhance`` (``v`` = 1 keeps the image), geometric ops with
nearest-neighbour sampling and black fill, translations as a fraction of the
image size, shears as the PIL affine coefficient ``v`` (here about the image
centre, not the corner). On grey images ``color`` (saturation) leaves the image
unchanged, as PIL does for mode "L".
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as F

from . import colour
from .affine import inverse_affine, warp_nearest


def batched(op: Callable[[Tensor, Tensor], Tensor], name: str | None = None
            ) -> Callable[[Tensor, Tensor | float], Tensor]:
    """Let ``op(batch, magnitudes)`` also take one image and/or one magnitude (named ``name`` or as ``op``)."""
    def run(images: Tensor, v: Tensor | float) -> Tensor:
        single = images.ndim == 3
        batch = images.unsqueeze(0) if single else images
        magnitude = torch.as_tensor(v, dtype=torch.float64, device=batch.device).reshape(-1)
        out = op(batch, magnitude.expand(batch.shape[0]) if magnitude.numel() == 1 else magnitude)
        return out[0] if single else out

    run.__name__, run.__doc__ = name or op.__name__, op.__doc__
    return run


@batched
def identity(images: Tensor, v: Tensor) -> Tensor:
    """Return the images unchanged."""
    return images


@batched
def autocontrast(images: Tensor, v: Tensor) -> Tensor:
    """Stretch each channel to the full 0-255 range (magnitude unused)."""
    return F.autocontrast(images)


@batched
def equalize(images: Tensor, v: Tensor) -> Tensor:
    """Equalise each channel's histogram (magnitude unused)."""
    return F.equalize(images)


@batched
def solarize(images: Tensor, v: Tensor) -> Tensor:
    """Invert every pixel at or above threshold ``v`` (0-256; 256 changes nothing)."""
    threshold = v.to(torch.float32).view(-1, 1, 1, 1)
    return torch.where(images.to(torch.float32) >= threshold, 255 - images, images)


@batched
def posterize(images: Tensor, v: Tensor) -> Tensor:
    """Keep the ``int(v)`` most significant bits of each pixel."""
    bits = v.to(torch.int64).view(-1, 1, 1, 1)
    mask = (((1 << bits) - 1) << (8 - bits)).to(torch.uint8)
    return images & mask


color = batched(colour.saturation, "color")
contrast = batched(colour.contrast)
brightness = batched(colour.brightness)
sharpness = batched(colour.sharpness)


Matrix = Callable[[Tensor, int, int], Tensor]
"""Per-sample magnitudes (B,) and the image height and width -> (B, 2, 3) inverse affine matrices."""


def _zeros(v: Tensor) -> Tensor:
    return torch.zeros_like(v)


def rotate_matrix(v: Tensor, height: int, width: int) -> Tensor:
    """Rotation by ``v`` degrees counter-clockwise about the centre."""
    zero = _zeros(v)
    return inverse_affine(-v, zero, zero, zero, zero)


def shear_x_matrix(v: Tensor, height: int, width: int) -> Tensor:
    """Horizontal shear x' = x + v * y."""
    zero = _zeros(v)
    return inverse_affine(zero, zero, zero, torch.rad2deg(torch.atan(v)), zero)


def shear_y_matrix(v: Tensor, height: int, width: int) -> Tensor:
    """Vertical shear y' = y + v * x."""
    zero = _zeros(v)
    return inverse_affine(zero, zero, zero, zero, torch.rad2deg(torch.atan(v)))


def translate_x_matrix(v: Tensor, height: int, width: int) -> Tensor:
    """Horizontal shift by ``v`` times the width."""
    zero = _zeros(v)
    return inverse_affine(zero, v * width, zero, zero, zero)


def translate_y_matrix(v: Tensor, height: int, width: int) -> Tensor:
    """Vertical shift by ``v`` times the height."""
    zero = _zeros(v)
    return inverse_affine(zero, zero, v * height, zero, zero)


def warp_op(matrix: Matrix) -> Callable[[Tensor, Tensor | float], Tensor]:
    """The op that resamples each image through ``matrix`` (nearest, black fill)."""
    def op(images: Tensor, v: Tensor) -> Tensor:
        return warp_nearest(images, matrix(v, images.shape[-2], images.shape[-1]))

    op.__name__ = matrix.__name__.removesuffix("_matrix")
    op.__doc__ = matrix.__doc__
    return batched(op)


rotate = warp_op(rotate_matrix)
shear_x = warp_op(shear_x_matrix)
shear_y = warp_op(shear_y_matrix)
translate_x = warp_op(translate_x_matrix)
translate_y = warp_op(translate_y_matrix)

MATRICES: dict[Callable[..., Tensor], Matrix] = {
    rotate: rotate_matrix, shear_x: shear_x_matrix, shear_y: shear_y_matrix,
    translate_x: translate_x_matrix, translate_y: translate_y_matrix,
}
"""The geometric ops and their matrices: RandomOps warps every geometric draw of a position at once."""


