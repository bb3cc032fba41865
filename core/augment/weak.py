"""`weak`: random horizontal flip and padded random crop (SCAN / SPICE / FixMatch weak view).

SPICE (Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382) §IV-B: "a standard flip-and-shift
augmentation strategy ... as in FixMatch" (Sohn et al., NeurIPS 2020, https://arxiv.org/abs/2001.07685). The
padding is that of SPICE's released code (https://github.com/niuchuangnn/SPICE): ``spice/data/transformations.py``
for stage 2, ``fixmatch/datasets/ssl_dataset_robust.py`` for stage 3.
"""

from .basic import Pipeline, Step, ToUnitFloat, View, check_shape
from .geometry import Flip, PadCrop


def crop_padding(height: int, width: int, padding: int | None) -> list[int]:
    """Padding for the weak crop as [left/right, top/bottom].

    SPICE's code pads 4 px at 32 px. Given no `padding`, each side scales
    in proportion, round(side / 8): 1 px at 8, 2 at 16, 4 at 28 and 32, 12 at 96.
    """
    if padding is not None:
        return [int(padding), int(padding)]
    return [int(width / 8 + 0.5), int(height / 8 + 0.5)]


def flip_and_crop(height: int, width: int, *, flip: bool, padding: int | None) -> list[Step]:
    """The weak geometry: optional horizontal flip (p = 0.5), then a zero-padded random crop."""
    steps: list[Step] = [Flip(0.5)] if flip else []
    steps.append(PadCrop(*crop_padding(height, width, padding)))
    return steps


def weak(shape: tuple[int, int, int], *, flip: bool = True, padding: int | None = None) -> View:
    """Weak view: flip + padded crop (SPICE §IV-B, FixMatch's "flip-and-shift").

    Args:
        shape: (C, H, W) of the input.
        flip: Random horizontal flip with p = 0.5 (as SPICE's code); turn off for digits.
        padding: Zero padding in pixels before cropping back to H x W; None scales
            SPICE's 4 px at 32 px to round(side / 8) per axis (SPICE's code pads
            4 px at every size: pass 4 for that).

    Returns:
        uint8 B x C x H x W -> float32 B x C x H x W in [0, 1].
    """
    _, height, width = check_shape(shape)
    return Pipeline([*flip_and_crop(height, width, flip=flip, padding=padding), ToUnitFloat()])
