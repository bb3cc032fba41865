"""Batched affine resampling with a matrix per sample, as torchvision's ``affine`` and ``rotate`` do it.

torchvision maps each output pixel through the inverse of
M = T · C · R(a) · Sh(sx, sy) · C⁻¹ (rotation about the centre, shears, then a
translation), samples the input there (nearest here) and fills what falls
outside with a constant. The same inverse matrix and pixel grid are built for
every sample at once and sampled with one ``grid_sample``, so the result
equals torchvision's functional op on each image.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as nnf


def inverse_affine(angle: Tensor, translate_x: Tensor, translate_y: Tensor, shear_x: Tensor,
                   shear_y: Tensor) -> Tensor:
    """(B, 2, 3) float64 inverse matrices about the image centre (angles and shears in degrees, clockwise
    angle as torchvision's ``affine``; translations in pixels)."""
    rot, sx, sy = torch.deg2rad(angle), torch.deg2rad(shear_x), torch.deg2rad(shear_y)
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -(a * torch.tan(sx) + torch.sin(rot))
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = torch.cos(rot) - c * torch.tan(sx)
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = -m0 * translate_x - m1 * translate_y
    m5 = -m3 * translate_x - m4 * translate_y
    return torch.stack([torch.stack([m0, m1, m2], 1), torch.stack([m3, m4, m5], 1)], 1)


def pixel_grid(theta: Tensor, height: int, width: int) -> Tensor:
    """Sampling grid (B, H, W, 2) for inverse matrices in centred pixel units (torchvision's ``_affine_grid``)."""
    batch, device = theta.shape[0], theta.device
    base = torch.empty(1, height, width, 3, dtype=theta.dtype, device=device)
    base[..., 0].copy_(torch.linspace((1.0 - width) * 0.5, (width - 1.0) * 0.5, steps=width, device=device))
    base[..., 1].copy_(torch.linspace((1.0 - height) * 0.5, (height - 1.0) * 0.5, steps=height,
                                      device=device).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scale = torch.tensor([0.5 * width, 0.5 * height], dtype=theta.dtype, device=device)
    rescaled = theta.transpose(1, 2) / scale
    return base.view(1, height * width, 3).expand(batch, -1, -1).bmm(rescaled).view(batch, height, width, 2)


def warp_nearest(images: Tensor, theta: Tensor, fill: float = 0.0) -> Tensor:
    """Resample each image through its inverse matrix with nearest sampling and a constant fill.

    Args:
        images: B x C x H x W (uint8 results are rounded back to uint8).
        theta: (B, 2, 3) inverse matrices from :func:`inverse_affine`.
        fill: Value outside the image, in the images' scale.
    """
    height, width = images.shape[-2:]
    dtype = images.dtype if images.is_floating_point() else torch.float32
    grid = pixel_grid(theta.to(dtype), height, width)
    source = images.to(dtype)
    mask = torch.ones_like(source[:, :1])
    out = nnf.grid_sample(torch.cat([source, mask], 1), grid, mode="nearest", padding_mode="zeros",
                          align_corners=False)
    out, mask = out[:, :-1], out[:, -1:]
    out = torch.where(mask < 0.5, torch.full_like(out, fill), out)
    return out if images.is_floating_point() else out.round_().to(images.dtype)
