"""The augmentation `dccm`: DCCM's "small perturbations" with Keras ImageDataGenerator semantics.

Wu et al., "Deep Comprehensive Correlation Mining for Image Clustering", ICCV 2019, §4 "Implementation
Details" ("rotation, shift, rescale, etc.", https://arxiv.org/abs/1904.06925); the ranges are those of the
released code's Keras ImageDataGenerator (https://github.com/Cory-M/DCCM).
"""

from collections.abc import Sequence

from clust_core.augment import ChannelShift, KerasAffine, Pipeline, Step, ToUnitFloat, View
from clust_core.augment.basic import check_shape
from clust_core.augment.geometry import Flip
from clust_core.augment.keras import Rescale


def dccm(shape: tuple[int, int, int], *, rotation: float = 20.0, shift: float = 0.18,
         zoom: Sequence[float] = (0.85, 1.15), channel_shift: float = 0.1, channel_shift_per_channel: bool = False,
         flip: bool = True, rescale: float = 0.95) -> View:
    """DCCM view: rotation, shift, zoom (edge fill), channel shift, flip, rescale (released code's values).

    Runs on [0, 1] floats (DCCM feeds ToTensor images), spatially on H x W as
    the spec intends, in Keras's order: affine, channel shift, flip, then rescale.

    Args:
        shape: (C, H, W) of the input.
        rotation: Degrees, uniform in +-rotation (code: 20).
        shift: Fraction of height and of width, uniform in +-shift (code: 0.18).
        zoom: zoom_x and zoom_y each uniform in this range (code: 0.85-1.15).
        channel_shift: Offset uniform in +-channel_shift, clipped to the image's
            [min, max] (code: 0.1).
        channel_shift_per_channel: One offset per channel (Keras 2.0.2, the code's
            version, and <= 2.1); the default, one offset per image, is what Keras's
            ImageDataGenerator does since 2.2.
        flip: Random horizontal flip, p = 0.5 (code).
        rescale: Final multiplier (code: 0.95).

    Returns:
        uint8 B x C x H x W -> float32 B x C x H x W in [0, rescale].
    """
    check_shape(shape)
    steps: list[Step] = [
        ToUnitFloat(),
        KerasAffine(rotation, (shift, shift), zoom),
        ChannelShift(channel_shift, per_channel=channel_shift_per_channel),
    ]
    if flip:
        steps.append(Flip(0.5))
    return Pipeline([*steps, Rescale(rescale)])


AUGMENTATIONS = {"dccm": dccm}
