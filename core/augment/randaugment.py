"""RandAugment as SCAN and FixMatch implement it: n ops drawn with replacement, random magnitudes, per sample.

Both pools are those of SPICE's released code (https://github.com/niuchuangnn/SPICE), which uses SCAN's
(https://arxiv.org/abs/2005.12320) in stage 2 and FixMatch's (https://arxiv.org/abs/2001.07685) in stage 3.
"""

from collections.abc import Callable, Sequence

import attrs
import torch
from torch import Tensor

from ..errors import ClustError
from . import ops
from .affine import warp_nearest
from .basic import Params, Step
from .randomness import SampleRandom


@attrs.frozen
class Op:
    """An image op with the range its magnitude is drawn from, uniformly."""

    apply: Callable[[Tensor, Tensor | float], Tensor]
    low: float
    high: float


# SCAN's strong pool, used by SPICE stage 2 (SPICE code spice/data/transformations.py): 14 ops.
SCAN_OPS: tuple[Op, ...] = (
    Op(ops.identity, 0, 1), Op(ops.autocontrast, 0, 1), Op(ops.equalize, 0, 1),
    Op(ops.rotate, -30, 30), Op(ops.solarize, 0, 256),
    Op(ops.color, 0.05, 0.95), Op(ops.contrast, 0.05, 0.95), Op(ops.brightness, 0.05, 0.95),
    Op(ops.sharpness, 0.05, 0.95),
    Op(ops.shear_x, -0.1, 0.1), Op(ops.shear_y, -0.1, 0.1),
    Op(ops.translate_x, -0.1, 0.1), Op(ops.translate_y, -0.1, 0.1),
    Op(ops.posterize, 4, 8),
)

# FixMatch's RandAugment(3, 5) pool, used by SPICE stage 3 (SPICE code fixmatch/datasets/augmentation/randaugment.py):
# 14 ops.
FIXMATCH_OPS: tuple[Op, ...] = (
    Op(ops.autocontrast, 0, 1),
    Op(ops.brightness, 0.05, 0.95), Op(ops.color, 0.05, 0.95), Op(ops.contrast, 0.05, 0.95),
    Op(ops.equalize, 0, 1), Op(ops.identity, 0, 1), Op(ops.posterize, 4, 8), Op(ops.rotate, -30, 30),
    Op(ops.sharpness, 0.05, 0.95),
    Op(ops.shear_x, -0.3, 0.3), Op(ops.shear_y, -0.3, 0.3),
    Op(ops.solarize, 0, 256),
    Op(ops.translate_x, -0.3, 0.3), Op(ops.translate_y, -0.3, 0.3),
)


class RandomOps(Step):
    """Apply `n` ops drawn with replacement from a pool, each with a uniform random magnitude, per sample.

    Symmetric ranges already cover both directions, which is what SCAN's random
    mirroring of the geometric ops achieves. Each sample draws its own ops and
    magnitudes; the batch is applied op by op to the samples that drew it.
    Takes and returns uint8 images.

    Args:
        pool: The ops to draw from.
        n: How many ops to apply, in the order drawn.

    Raises:
        ClustError: If `n` is negative.
    """

    def __init__(self, pool: Sequence[Op], n: int) -> None:
        if n < 0:
            raise ClustError(f"the number of RandAugment ops must be >= 0, got {n}")
        self.pool = tuple(pool)
        self.n = int(n)

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """The ops (indices into the pool) and their magnitudes, (B, n) each."""
        picks = rand.integers(0, len(self.pool), self.n)
        fractions = rand.uniform(self.n)
        low = torch.tensor([op.low for op in self.pool], dtype=torch.float64, device=rand.device)
        high = torch.tensor([op.high for op in self.pool], dtype=torch.float64, device=rand.device)
        return {"ops": picks, "magnitudes": low[picks] + (high[picks] - low[picks]) * fractions}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Apply the drawn ops in order; at each position, every geometric draw is one warp."""
        out = images.clone()
        height, width = images.shape[-2:]
        geometric = [index for index, op in enumerate(self.pool) if op.apply in ops.MATRICES]
        for position in range(self.n):
            picks, magnitudes = params["ops"][:, position], params["magnitudes"][:, position]
            warped = torch.isin(picks, torch.tensor(geometric, device=picks.device))
            if bool(warped.any()):
                theta = torch.empty(int(warped.sum()), 2, 3, dtype=torch.float64, device=picks.device)
                for index in geometric:
                    mask = picks[warped] == index
                    if bool(mask.any()):
                        matrix = ops.MATRICES[self.pool[index].apply]
                        theta[mask] = matrix(magnitudes[warped][mask], height, width)
                out[warped] = warp_nearest(out[warped], theta)
            for index, op in enumerate(self.pool):
                mask = picks == index
                if index not in geometric and bool(mask.any()):
                    out[mask] = op.apply(out[mask], magnitudes[mask])
        return out
