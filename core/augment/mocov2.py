"""`mocov2`: the MoCo v2 augmentation SPICE pre-trains with (spice.md §2)."""

import math
from collections.abc import Sequence

from torchvision.transforms import v2

from .basic import Transform, ToUnitFloat, check_shape


def blur_kernel(height: int, width: int, sigma_max: float) -> int:
    """Odd kernel size covering +-3 sigma (MoCo's PIL blur has no cut-off), capped so
    reflect padding fits the image: 13 px for sigma 2."""
    wanted = 2 * math.ceil(3 * sigma_max) + 1
    return max(1, min(wanted, 2 * min(height, width) - 1))


def mocov2(shape: tuple[int, int, int], *, crop_scale: Sequence[float] = (0.2, 1.0),
           jitter: Sequence[float] = (0.4, 0.4, 0.4, 0.1), jitter_p: float = 0.8, grayscale_p: float = 0.2,
           blur_sigma: Sequence[float] = (0.1, 2.0), blur_p: float = 0.5, flip: bool = True) -> Transform:
    """MoCo v2 view: resized crop, colour jitter, random grey, Gaussian blur, flip (spice.md §2).

    On grey input only brightness and contrast jitter apply (saturation and hue
    need colour) and random grayscale is skipped (a no-op there).

    Args:
        shape: (C, H, W) of the input; the crop is resized back to H x W.
        crop_scale: RandomResizedCrop area range (spice.md §2: 0.2-1).
        jitter: ColorJitter brightness, contrast, saturation, hue (spice.md §2: 0.4, 0.4, 0.4, 0.1).
        jitter_p: Probability of the jitter (spice.md §2: 0.8).
        grayscale_p: Probability of turning the image grey (spice.md §2: 0.2).
        blur_sigma: Gaussian blur sigma range (spice.md §2: 0.1-2).
        blur_p: Probability of the blur (spice.md §2: 0.5); 0 turns it off.
        flip: Random horizontal flip, p = 0.5 (spice.md §2).

    Returns:
        uint8 C x H x W -> float32 C x H x W in [0, 1].
    """
    channels, height, width = check_shape(shape)
    brightness, contrast, saturation, hue = jitter
    colour = channels == 3
    if colour:
        jitter_op = v2.ColorJitter(brightness, contrast, saturation, hue)
    else:
        jitter_op = v2.ColorJitter(brightness, contrast)
    steps: list[Transform] = [
        v2.RandomResizedCrop((height, width), scale=tuple(crop_scale), antialias=True),
        v2.RandomApply([jitter_op], p=jitter_p),
    ]
    if colour:
        steps.append(v2.RandomGrayscale(p=grayscale_p))
    steps.append(v2.RandomApply([v2.GaussianBlur(blur_kernel(height, width, max(blur_sigma)), tuple(blur_sigma))],
                                p=blur_p))
    if flip:
        steps.append(v2.RandomHorizontalFlip(0.5))
    return v2.Compose([*steps, ToUnitFloat()])
