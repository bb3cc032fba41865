"""Batched colour operations with a factor per sample, as torchvision defines them.

brightness, contrast, saturation and sharpness blend the image with a
parameter-free "other" image: out = clamp(f·x + (1 − f)·other) (black, the
mean grey level, the grey image, a 3x3 smoothed copy); hue shifts H in HSV.
uint8 images are truncated back to uint8 as torchvision does, so a batched
op equals torchvision's functional op on each image.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as nnf
# torchvision's own HSV conversions (batch-capable); adjust_hue takes one factor per call.
from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

from .basic import Params, Step, grey
from .randomness import SampleRandom


def _column(values: Tensor, images: Tensor) -> Tensor:
    """(B,) factors as a (B, 1, 1, 1) tensor in the images' float type."""
    dtype = images.dtype if images.is_floating_point() else torch.float32
    return values.to(dtype).view(-1, 1, 1, 1)


def _bound(images: Tensor) -> float:
    return 1.0 if images.is_floating_point() else 255.0


def blend(images: Tensor, other: Tensor, ratio: Tensor) -> Tensor:
    """clamp(ratio·images + (1 − ratio)·other) per sample, in the images' dtype."""
    r = _column(ratio, images)
    out = torch.addcmul(images * r, other, 1.0 - r).clamp_(0, _bound(images))
    return out if images.is_floating_point() else out.to(images.dtype)


def brightness(images: Tensor, factor: Tensor) -> Tensor:
    """Scale intensities by ``factor`` (blend with black)."""
    out = (images * _column(factor, images)).clamp_(0, _bound(images))
    return out if images.is_floating_point() else out.to(images.dtype)


def _grey_float(images: Tensor) -> Tensor:
    """The grey level as float (floored for uint8 RGB, as torchvision's contrast and saturation)."""
    if images.shape[-3] == 1:
        return images if images.is_floating_point() else images.to(torch.float32)
    r, g, b = images.unbind(dim=-3)
    luma = r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(-3)
    return luma if images.is_floating_point() else luma.floor_()


def contrast(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with each image's mean grey level."""
    mean = _grey_float(images).mean(dim=(-3, -2, -1), keepdim=True)
    return blend(images, mean, factor)


def saturation(images: Tensor, factor: Tensor) -> Tensor:
    """Blend with the grey image (no change on grey images, as PIL)."""
    if images.shape[-3] == 1:
        return images
    return blend(images, _grey_float(images), factor)


def hue(images: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue of float RGB images by ``shift`` (a fraction of the circle; no change on grey)."""
    if images.shape[-3] == 1:
        return images
    hsv = _rgb_to_hsv(images)
    h, s, v = hsv.unbind(dim=-3)
    h = (h + shift.to(h.dtype).view(-1, 1, 1)).remainder_(1.0)
    return _hsv_to_rgb(torch.stack((h, s, v), dim=-3))


def sharpness(images: Tensor, factor: Tensor) -> Tensor:
    """Blend the interior with a 3x3 smoothed copy (weights 1, centre 5, over 13); the border is kept."""
    channels, height, width = images.shape[-3:]
    if height <= 2 or width <= 2:
        return images
    fp = images.is_floating_point()
    a, b = 1.0 / 13.0, 5.0 / 13.0
    dtype = images.dtype if fp else torch.float32
    kernel = torch.tensor([[a, a, a], [a, b, a], [a, a, a]], dtype=dtype, device=images.device)
    out = images.to(dtype=dtype, copy=True)
    smooth = nnf.conv2d(out, kernel.expand(channels, 1, 3, 3), groups=channels)
    if not fp:
        smooth = smooth.round_()
    inner = out[..., 1:-1, 1:-1]
    inner.add_((smooth - inner) * (1.0 - _column(factor, images)))
    out = out.clamp_(0, _bound(images))
    return out if fp else out.to(images.dtype)


class ColorJitter(Step):
    """torchvision's ``ColorJitter``: brightness, contrast, saturation, hue in a random order per sample.

    Factors are uniform in [1 − v, 1 + v] (hue: shift in [−h, h]); a value of 0
    (or None) leaves that operation out.

    Args:
        brightness, contrast, saturation, hue: The jitter strengths.
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0,
                 hue: float = 0.0) -> None:
        self.ranges = [(max(0.0, 1 - v), 1 + v) if v else None for v in (brightness, contrast, saturation)]
        self.ranges.append((-hue, hue) if hue else None)

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """The order and one factor per operation."""
        u = rand.uniform(4)
        factors = torch.stack([u[:, i] * (r[1] - r[0]) + r[0] if r else torch.ones_like(u[:, i])
                               for i, r in enumerate(self.ranges)], dim=1)
        return {"order": rand.permutations(4), "factors": factors}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Apply the active operations in each sample's order."""
        ops = (brightness, contrast, saturation, hue)
        out = images
        for position in range(4):
            for op_index, op in enumerate(ops):
                if self.ranges[op_index] is None:
                    continue
                mask = params["order"][:, position] == op_index
                if bool(mask.any()):
                    out = out.clone() if out is images else out
                    out[mask] = op(out[mask], params["factors"][mask, op_index])
        return out


class RandomGrayscale(Step):
    """Turn each RGB sample grey (luma in all three channels) with probability ``p``.

    Args:
        p: Probability per sample.
    """

    def __init__(self, p: float) -> None:
        self.p = float(p)

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """Whether each sample turns grey."""
        return {"grey": rand.chance(self.p)}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Replace the chosen samples by their luma."""
        return torch.where(params["grey"].view(-1, 1, 1, 1), grey(images).expand_as(images), images)


class ChannelPermutation(Step):
    """Shuffle the channels of each sample (torchvision ``RandomChannelPermutation``)."""

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """A permutation of the channels per sample."""
        return {"perm": rand.permutations(shape[-3])}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Reorder the channels."""
        index = params["perm"][:, :, None, None].expand_as(images)
        return images.gather(1, index)


def blur_kernel(height: int, width: int, sigma_max: float) -> int:
    """Odd kernel size covering +-3 sigma (MoCo's PIL blur has no cut-off), capped so
    reflect padding fits the image: 13 px for sigma 2."""
    wanted = 2 * math.ceil(3 * sigma_max) + 1
    return max(1, min(wanted, 2 * min(height, width) - 1))


class GaussianBlur(Step):
    """torchvision's ``GaussianBlur`` with a sigma drawn per sample, on float images (reflect padding).

    Args:
        kernel: Odd kernel size.
        sigma: (low, high) range of sigma.
    """

    def __init__(self, kernel: int, sigma: Sequence[float]) -> None:
        self.kernel, self.sigma = int(kernel), (float(sigma[0]), float(sigma[1]))

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """Sigma per sample."""
        return {"sigma": rand.uniform(1, *self.sigma)[:, 0]}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Blur rows then columns with each sample's normalised kernel (torchvision's 1-D kernel)."""
        batch, channels, height, width = images.shape
        half = self.kernel // 2
        lim = (self.kernel - 1) / (2.0 * math.sqrt(2.0))
        x = torch.linspace(-lim, lim, steps=self.kernel, dtype=images.dtype, device=images.device)
        weights = torch.softmax(-(x[None, :] / params["sigma"].to(images.dtype)[:, None]).pow(2), dim=1)
        weights = weights.repeat_interleave(channels, dim=0)
        flat = nnf.pad(images.reshape(1, batch * channels, height, width), (half, half, half, half), mode="reflect")
        flat = nnf.conv2d(flat, weights[:, None, None, :], groups=batch * channels)
        flat = nnf.conv2d(flat, weights[:, None, :, None], groups=batch * channels)
        return flat.reshape(batch, channels, height, width)
