"""`mocov2`: the MoCo v2 augmentation SPICE pre-trains with (SPICE §IV-B).

MoCo v2: Chen et al. 2020, https://arxiv.org/abs/2003.04297. SPICE: Niu, Shan, Wang, IEEE TIP 2022,
https://arxiv.org/abs/2103.09382; the values below are those of SPICE's released code,
``tools/train_moco.py`` (https://github.com/niuchuangnn/SPICE), MoCo v2's ``--aug-plus`` recipe.
"""

from collections.abc import Sequence

from .basic import Pipeline, RandomApply, Step, ToUnitFloat, View, check_shape
from .colour import ColorJitter, GaussianBlur, RandomGrayscale, blur_kernel
from .geometry import Flip, ResizedCrop


def mocov2(shape: tuple[int, int, int], *, crop_scale: Sequence[float] = (0.2, 1.0),
           jitter: Sequence[float] = (0.4, 0.4, 0.4, 0.1), jitter_p: float = 0.8, grayscale_p: float = 0.2,
           blur_sigma: Sequence[float] = (0.1, 2.0), blur_p: float = 0.5, flip: bool = True) -> View:
    """MoCo v2 view: resized crop, colour jitter, random grey, Gaussian blur, flip (``train_moco.py``).

    On grey input only brightness and contrast jitter apply (saturation and hue
    need colour) and random grayscale is skipped (a no-op there). The whole view
    runs on float images: torchvision on uint8 tensors (and PIL) would round to
    8 bits after each step; here only the input is quantised. As torchvision's
    float resize and blur, the normalised weights can overshoot 1 by a rounding
    error (about 1e-7).

    Args:
        shape: (C, H, W) of the input; the crop is resized back to H x W.
        crop_scale: RandomResizedCrop area range (``train_moco.py``: 0.2-1).
        jitter: ColorJitter brightness, contrast, saturation, hue (``train_moco.py``: 0.4, 0.4, 0.4, 0.1).
        jitter_p: Probability of the jitter (``train_moco.py``: 0.8).
        grayscale_p: Probability of turning the image grey (``train_moco.py``: 0.2).
        blur_sigma: Gaussian blur sigma range (``train_moco.py``: 0.1-2).
        blur_p: Probability of the blur (``train_moco.py``: 0.5); 0 turns it off.
        flip: Random horizontal flip, p = 0.5 (``train_moco.py``).

    Returns:
        uint8 B x C x H x W -> float32 B x C x H x W in [0, 1].
    """
    channels, height, width = check_shape(shape)
    brightness, contrast, saturation, hue = jitter
    colour = channels == 3
    jitter_op = ColorJitter(brightness, contrast, saturation, hue) if colour else ColorJitter(brightness, contrast)
    steps: list[Step] = [
        ToUnitFloat(),
        ResizedCrop((height, width), scale=tuple(crop_scale)),
        RandomApply(jitter_op, p=jitter_p),
    ]
    if colour:
        steps.append(RandomGrayscale(p=grayscale_p))
    steps.append(RandomApply(GaussianBlur(blur_kernel(height, width, max(blur_sigma)), tuple(blur_sigma)), p=blur_p))
    if flip:
        steps.append(Flip(0.5))
    return Pipeline(steps)
