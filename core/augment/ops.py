"""The RandAugment image operations of SCAN and FixMatch, on uint8 C x H x W tensors.

Each op takes the image and a magnitude ``v`` and follows the PIL version of
the authors' code: enhancement factors as in ``ImageEnhance`` (``v`` = 1 keeps
the image), geometric ops with nearest-neighbour sampling and black fill,
translations as a fraction of the image size, shears as the PIL affine
coefficient ``v`` (here about the image centre, not the corner). On grey images
``color`` (saturation) leaves the image unchanged, as PIL does for mode "L".
"""

import math

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as F

_NEAREST = InterpolationMode.NEAREST


def identity(image: torch.Tensor, v: float) -> torch.Tensor:
    """Return the image unchanged."""
    return image


def autocontrast(image: torch.Tensor, v: float) -> torch.Tensor:
    """Stretch each channel to the full 0-255 range (magnitude unused)."""
    return F.autocontrast(image)


def equalize(image: torch.Tensor, v: float) -> torch.Tensor:
    """Equalise each channel's histogram (magnitude unused)."""
    return F.equalize(image)


def rotate(image: torch.Tensor, v: float) -> torch.Tensor:
    """Rotate by ``v`` degrees counter-clockwise about the centre."""
    return F.rotate(image, v, interpolation=_NEAREST, fill=0.0)


def solarize(image: torch.Tensor, v: float) -> torch.Tensor:
    """Invert every pixel at or above threshold ``v`` (0-256; 256 changes nothing)."""
    return torch.where(image.to(torch.float32) >= v, 255 - image, image)


def posterize(image: torch.Tensor, v: float) -> torch.Tensor:
    """Keep the ``int(v)`` most significant bits of each pixel."""
    return F.posterize(image, int(v))


def color(image: torch.Tensor, v: float) -> torch.Tensor:
    """Scale saturation by factor ``v`` (no change on grey images)."""
    return F.adjust_saturation(image, v)


def contrast(image: torch.Tensor, v: float) -> torch.Tensor:
    """Scale contrast by factor ``v``."""
    return F.adjust_contrast(image, v)


def brightness(image: torch.Tensor, v: float) -> torch.Tensor:
    """Scale brightness by factor ``v``."""
    return F.adjust_brightness(image, v)


def sharpness(image: torch.Tensor, v: float) -> torch.Tensor:
    """Blend with a smoothed copy by factor ``v`` (below 1 blurs, above 1 sharpens)."""
    return F.adjust_sharpness(image, v)


def _affine(image: torch.Tensor, translate: tuple[float, float], shear: tuple[float, float]) -> torch.Tensor:
    """Translate (pixels) and shear (degrees) with nearest sampling and black fill."""
    return F.affine(image, angle=0.0, translate=list(translate), scale=1.0, shear=list(shear),
                    interpolation=_NEAREST, fill=0.0)


def shear_x(image: torch.Tensor, v: float) -> torch.Tensor:
    """Shear horizontally: x' = x + v * y."""
    return _affine(image, (0.0, 0.0), (math.degrees(math.atan(v)), 0.0))


def shear_y(image: torch.Tensor, v: float) -> torch.Tensor:
    """Shear vertically: y' = y + v * x."""
    return _affine(image, (0.0, 0.0), (0.0, math.degrees(math.atan(v))))


def translate_x(image: torch.Tensor, v: float) -> torch.Tensor:
    """Shift horizontally by ``v`` times the width."""
    return _affine(image, (v * image.shape[-1], 0.0), (0.0, 0.0))


def translate_y(image: torch.Tensor, v: float) -> torch.Tensor:
    """Shift vertically by ``v`` times the height."""
    return _affine(image, (0.0, v * image.shape[-2]), (0.0, 0.0))
