"""The augmentation `dccs`: DCCS's augmented view T(x).

Zhao et al., "Deep Image Clustering with Category-Style Representation", ECCV 2020, §4.1 and the
supplementary material's "Data augmentation" (https://arxiv.org/abs/2007.10004).
"""

from collections.abc import Sequence

from clust_core.augment import Pipeline, Step, ToUnitFloat, View
from clust_core.augment.basic import Grayscale, check_shape
from clust_core.augment.colour import ChannelPermutation, ColorJitter
from clust_core.augment.geometry import Flip, ResizedCrop


def dccs(shape: tuple[int, int, int], *, crop_scale: Sequence[float] = (0.4, 1.0),
         crop_ratio: Sequence[float] = (3 / 4, 4 / 3), flip: bool = True, channel_shuffle: bool = True,
         grayscale: bool = True, jitter: Sequence[float] = (0.4, 0.4, 0.4, 0.125)) -> View:
    """DCCS view: resized crop, flip, channel shuffle, grey, colour jitter (the supplement's order).

    The jitter runs after graying, as in DCCS's code, so on grey output only
    brightness and contrast act (each factor U[0.6, 1.4]); saturation and hue are
    skipped there, being no-ops on grey images. With ``grayscale=False`` colour
    input keeps 3 channels and gets the full jitter. Runs on float images (no
    8-bit rounding between steps).

    Args:
        shape: (C, H, W) of the input; the crop is resized back to H x W.
        crop_scale: RandomResizedCrop area range (supplement: 40 %-100 %).
        crop_ratio: RandomResizedCrop aspect range (supplement: 3/4-4/3).
        flip: Random horizontal flip, p = 0.5 (supplement; off for MNIST).
        channel_shuffle: Randomly permute RGB before graying, colour input only (supplement).
        grayscale: Output one grey channel (§4.1: colour images are converted to grey).
        jitter: ColorJitter brightness, contrast, saturation, hue (supplement: [0.6, 1.4] and hue [0.875, 1.125]).

    Returns:
        uint8 B x C x H x W -> float32 B x 1 x H x W (grayscale) or B x C x H x W.
    """
    channels, height, width = check_shape(shape)
    steps: list[Step] = [ToUnitFloat(), ResizedCrop((height, width), scale=tuple(crop_scale), ratio=tuple(crop_ratio))]
    if flip:
        steps.append(Flip(0.5))
    colour = channels == 3
    if colour and channel_shuffle:
        steps.append(ChannelPermutation())
    if colour and grayscale:
        steps.append(Grayscale())
    brightness, contrast, saturation, hue = jitter
    if colour and not grayscale:
        steps.append(ColorJitter(brightness, contrast, saturation, hue))
    else:
        steps.append(ColorJitter(brightness, contrast))
    return Pipeline(steps)


AUGMENTATIONS = {"dccs": dccs}
