"""Keras ``ImageDataGenerator`` random transforms (as DCCM uses them), batched with per-sample parameters."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as nnf

from .basic import Params, Step
from .randomness import SampleRandom


class KerasAffine(Step):
    """Random rotation, shift and independent x/y zoom about the centre, like Keras.

    Keras maps each output pixel p to the input point c + R Z (p - c) + R t
    (rotation R, zoom Z = diag(zoom_x, zoom_y), shift t in pixels), samples
    bilinearly and fills outside points with the nearest edge pixel
    (fill_mode 'nearest'). A zoom above 1 shows a larger area, so the content
    shrinks. Float images.

    Args:
        rotation: Degrees; the angle is uniform in +-rotation.
        shift: (height, width) fractions; each shift is uniform in +-fraction * size.
        zoom: (low, high); zoom_x and zoom_y are drawn independently from U[low, high].
    """

    def __init__(self, rotation: float, shift: Sequence[float], zoom: Sequence[float]) -> None:
        self.rotation = float(rotation)
        self.shift = (float(shift[0]), float(shift[1]))
        self.zoom = (float(zoom[0]), float(zoom[1]))

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """The angle (radians), the shift in pixels (x, y) and the zooms (x, y) of each sample."""
        height, width = shape[-2:]
        u = rand.uniform(5)
        low, high = self.zoom
        return {
            "angle": torch.deg2rad(self.rotation * (2 * u[:, 0] - 1)),
            "shift": torch.stack([self.shift[1] * width * (2 * u[:, 1] - 1),
                                  self.shift[0] * height * (2 * u[:, 2] - 1)], 1),
            "zoom": low + (high - low) * u[:, 3:5],
        }

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Resample every image through its affine map (bilinear, edge fill)."""
        height, width = images.shape[-2:]
        cos, sin = torch.cos(params["angle"]), torch.sin(params["angle"])
        rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
        linear = rotation * params["zoom"].to(rotation.dtype)[:, None, :]
        offset = torch.bmm(rotation, params["shift"].to(rotation.dtype)[:, :, None])[:, :, 0]
        # affine_grid works in coordinates normalised to [-1, 1]: n = S p with S = diag(2 / W, 2 / H).
        scale = torch.tensor([2.0 / width, 2.0 / height], dtype=rotation.dtype, device=rotation.device)
        theta = torch.cat([scale[None, :, None] * linear / scale[None, None, :], (scale * offset)[:, :, None]], 2)
        grid = nnf.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        return nnf.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class ChannelShift(Step):
    """Keras ``channel_shift_range``: add a random offset, clipped to the image's own [min, max].

    Args:
        intensity: The offset is uniform in +-intensity (image units: [0, 1] for float images).
        per_channel: One offset per channel (Keras up to 2.1) instead of one per
            image (Keras 2.2 and later, keras-preprocessing).
    """

    def __init__(self, intensity: float, per_channel: bool = False) -> None:
        self.intensity = float(intensity)
        self.per_channel = per_channel

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """The offsets of each sample (one, or one per channel)."""
        channels = shape[-3] if self.per_channel else 1
        return {"offset": self.intensity * (2 * rand.uniform(channels) - 1)}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Shift and clip float images, each to its own range."""
        low = images.amin(dim=(-3, -2, -1), keepdim=True)
        high = images.amax(dim=(-3, -2, -1), keepdim=True)
        offset = params["offset"].to(images.dtype)[:, :, None, None]
        return torch.minimum(torch.maximum(images + offset, low), high)


class Rescale(Step):
    """Multiply pixel values by a constant, like Keras ``rescale``.

    Args:
        factor: The multiplier.
    """

    def __init__(self, factor: float) -> None:
        self.factor = float(factor)

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Scale float images."""
        return images * self.factor

