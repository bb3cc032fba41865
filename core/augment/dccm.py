"""`dccm`: DCCM's "small perturbations", Keras ImageDataGenerator semantics (dccm.md §4)."""

from collections.abc import Sequence

from .basic import Pipeline, Step, ToUnitFloat, View, check_shape
from .geometry import Flip
from .keras import ChannelShift, KerasAffine, Rescale


def dccm(shape: tuple[int, int, int], *, rotation: float = 20.0, shift: float = 0.18,
         zoom: Sequence[float] = (0.85, 1.15), channel_shift: float = 0.1, channel_shift_per_channel: bool = False,
         flip: bool = True, rescale: float = 0.95) -> View:
    """DCCM view: rotation, shift, zoom (edge fill), channel shift, flip, rescale (dccm.md §4).

    Runs on [0, 1] floats (DCCM feeds ToTensor images), spatially on H x W as
    the spec intends, in Keras's order: affine, channel shift, flip, then rescale.

    Args:
        shape: (C, H, W) of the input.
        rotation: Degrees, uniform in +-rotation (dccm.md §4: 20).
        shift: Fraction of height and of width, uniform in +-shift (dccm.md §4: 0.18).
        zoom: zoom_x and zoom_y each uniform in this range (dccm.md §4: 0.85-1.15).
        channel_shift: Offset uniform in +-channel_shift, clipped to the image's
            [min, max] (dccm.md §4: 0.1).
        channel_shift_per_channel: One offset per channel, as dccm.md §4 reads it
            (Keras <= 2.1); the default, one offset per image, is what Keras's
            ImageDataGenerator does since 2.2.
        flip: Random horizontal flip, p = 0.5 (dccm.md §4).
        rescale: Final multiplier (dccm.md §4: 0.95).

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
