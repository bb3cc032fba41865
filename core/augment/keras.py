"""Keras ``ImageDataGenerator`` random transforms (as DCCM uses them), for C x H x W tensors."""

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as nnf
from torchvision.transforms import v2


class KerasAffine(v2.Transform):
    """Random rotation, shift and independent x/y zoom about the centre, like Keras.

    Keras maps each output pixel p to the input point c + R Z (p - c) + R t
    (rotation R, zoom Z = diag(zoom_x, zoom_y), shift t in pixels), samples
    bilinearly and fills outside points with the nearest edge pixel
    (fill_mode 'nearest'). A zoom above 1 shows a larger area, so the content
    shrinks. uint8 input is rounded back to uint8.

    Args:
        rotation: Degrees; the angle is uniform in +-rotation.
        shift: (height, width) fractions; each shift is uniform in +-fraction * size.
        zoom: (low, high); zoom_x and zoom_y are drawn independently from U[low, high].
    """

    def __init__(self, rotation: float, shift: Sequence[float], zoom: Sequence[float]) -> None:
        super().__init__()
        self.rotation = float(rotation)
        self.shift = (float(shift[0]), float(shift[1]))
        self.zoom = (float(zoom[0]), float(zoom[1]))

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the angle (radians), the shift in pixels (x, y) and the zooms (x, y)."""
        height, width = v2.query_size(flat_inputs)
        u = torch.rand(5).tolist()
        angle = math.radians(self.rotation * (2 * u[0] - 1))
        shift = (self.shift[1] * width * (2 * u[1] - 1), self.shift[0] * height * (2 * u[2] - 1))
        low, high = self.zoom
        return {"angle": angle, "shift": shift, "zoom": (low + (high - low) * u[3], low + (high - low) * u[4])}

    def transform(self, inpt: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Resample the image through the drawn affine map."""
        height, width = inpt.shape[-2:]
        cos, sin = math.cos(params["angle"]), math.sin(params["angle"])
        rotation = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
        linear = rotation @ torch.diag(torch.tensor(params["zoom"], dtype=torch.float64))
        offset = rotation @ torch.tensor(params["shift"], dtype=torch.float64)
        # affine_grid works in coordinates normalised to [-1, 1]: n = S p with S = diag(2 / W, 2 / H).
        scale = torch.tensor([2.0 / width, 2.0 / height], dtype=torch.float64)
        theta = torch.cat([scale[:, None] * linear / scale[None, :], (scale * offset)[:, None]], dim=1)
        image = inpt.float().reshape(-1, *inpt.shape[-3:])
        grid = nnf.affine_grid(theta.float()[None].expand(image.shape[0], 2, 3), list(image.shape), align_corners=False)
        out = nnf.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = out.reshape(inpt.shape)
        return out if inpt.is_floating_point() else out.round().clamp(0, 255).to(inpt.dtype)


class ChannelShift(v2.Transform):
    """Keras ``channel_shift_range``: add a random offset, clipped to the image's own [min, max].

    Args:
        intensity: The offset is uniform in +-intensity (image units: [0, 1] for float images).
        per_channel: One offset per channel (Keras up to 2.1) instead of one per
            image (Keras 2.2 and later, keras-preprocessing).
    """

    def __init__(self, intensity: float, per_channel: bool = False) -> None:
        super().__init__()
        self.intensity = float(intensity)
        self.per_channel = per_channel

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the offsets (one, or one per channel)."""
        channels = v2.query_chw(flat_inputs)[0] if self.per_channel else 1
        return {"offset": self.intensity * (2 * torch.rand(channels, 1, 1) - 1)}

    def transform(self, inpt: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Shift and clip a float image."""
        return (inpt + params["offset"]).clamp(inpt.min(), inpt.max())


class Rescale(v2.Transform):
    """Multiply pixel values by a constant, like Keras ``rescale``.

    Args:
        factor: The multiplier.
    """

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def transform(self, inpt: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Scale a float image."""
        return inpt * self.factor
