"""Strong views: SCAN's (SPICE stage 2) and FixMatch's (SPICE stage 3) RandAugment + Cutout.

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382, §IV-B ("Cutout and four randomly
selected transformations from RandAugment", as SCAN: Van Gansbeke et al., ECCV 2020,
https://arxiv.org/abs/2005.12320); FixMatch: Sohn et al., NeurIPS 2020, https://arxiv.org/abs/2001.07685. The
details are those of SPICE's released code (https://github.com/niuchuangnn/SPICE): ``spice/data/transformations.py``
and ``configs/<dataset>/spice_self.py`` (stage 2), ``fixmatch/datasets/augmentation/randaugment.py`` (stage 3).
"""

from collections.abc import Sequence

from .basic import Pipeline, ToUnitFloat, View, check_shape, fill_for
from .geometry import Flip
from .cutout import Cutout
from .randaugment import FIXMATCH_OPS, SCAN_OPS, RandomOps
from .weak import flip_and_crop

# SCAN zeroes the hole after ImageNet normalisation (spice/data/transformations.py), i.e. fills it with the mean.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
# FixMatch fills its hole with grey (125, 123, 114) before normalisation (SPICE code, FixMatch's randaugment.py).
FIXMATCH_GREY = (125 / 255, 123 / 255, 114 / 255)


def scan_strong(shape: tuple[int, int, int], *, flip: bool = True, n_ops: int = 4, cutout: int | None = None,
                cutout_fill: Sequence[float] = IMAGENET_MEAN) -> View:
    """SCAN's strong view as SPICE uses it: flip, 4 RandAugment ops, Cutout (SPICE §IV-B).

    SCAN's RandomCrop without padding at full size is a no-op and is left out.

    Args:
        shape: (C, H, W) of the input.
        flip: Random horizontal flip, p = 0.5 (SPICE's code).
        n_ops: Ops drawn with replacement from SCAN's 14 (SPICE §IV-B: 4; code ``num_strong_augs``).
        cutout: Largest hole side in pixels, the side being uniform in 1..cutout;
            None gives min(shorter side // 2, 32), i.e. 16 at 32 px and 32 at 96
            and 224 px as in the configs' ``cutout_kwargs`` (``configs/<dataset>/spice_self.py``).
        cutout_fill: RGB fill in [0, 1]; the ImageNet mean stands for SCAN's zero
            after normalisation. Grey images use its luma.

    Returns:
        uint8 B x C x H x W -> float32 B x C x H x W in [0, 1].
    """
    channels, height, width = check_shape(shape)
    max_side = cutout if cutout is not None else max(1, min(min(height, width) // 2, 32))
    steps: list[View] = [Flip(0.5)] if flip else []
    return Pipeline([
        *steps,
        RandomOps(SCAN_OPS, n_ops),
        Cutout(max_side, min_side=1, fill=fill_for(channels, cutout_fill)),
        ToUnitFloat(),
    ])


def fixmatch_strong(shape: tuple[int, int, int], *, flip: bool = True, padding: int | None = None, n_ops: int = 3,
                    cutout: float = 0.5, cutout_fill: Sequence[float] = FIXMATCH_GREY) -> View:
    """FixMatch's strong view (RandAugment(3, 5) as in SPICE stage 3, code ``randaugment.py``).

    Order as in the code: 3 ops with uniform random magnitudes (the "5" is
    unused), Cutout, then the weak flip and padded crop.

    Args:
        shape: (C, H, W) of the input.
        flip: Random horizontal flip, p = 0.5.
        padding: Crop padding as for `weak` (None: round(side / 8)).
        n_ops: Ops drawn with replacement from FixMatch's 14 (code: 3).
        cutout: Largest hole side as a fraction of the shorter side; the side is
            uniform in 0..cutout * side (code: U[0, 0.5] * width).
        cutout_fill: RGB fill in [0, 1] (code: grey 125, 123, 114); grey
            images use its luma.

    Returns:
        uint8 B x C x H x W -> float32 B x C x H x W in [0, 1].
    """
    channels, height, width = check_shape(shape)
    return Pipeline([
        RandomOps(FIXMATCH_OPS, n_ops),
        Cutout(int(cutout * min(height, width)), min_side=0, fill=fill_for(channels, cutout_fill)),
        *flip_and_crop(height, width, flip=flip, padding=padding),
        ToUnitFloat(),
    ])
