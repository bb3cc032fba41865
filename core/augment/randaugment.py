"""RandAugment as SCAN and FixMatch implement it: n ops drawn with replacement, random magnitudes."""

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch
from torchvision.transforms import v2

from ..errors import ClustError
from . import ops


@attrs.frozen
class Op:
    """An image op with the range its magnitude is drawn from, uniformly."""

    apply: Callable[[torch.Tensor, float], torch.Tensor]
    low: float
    high: float


# SCAN's strong pool, used by SPICE stage 2 (spice.md §6): 14 ops.
SCAN_OPS: tuple[Op, ...] = (
    Op(ops.identity, 0, 1), Op(ops.autocontrast, 0, 1), Op(ops.equalize, 0, 1),
    Op(ops.rotate, -30, 30), Op(ops.solarize, 0, 256),
    Op(ops.color, 0.05, 0.95), Op(ops.contrast, 0.05, 0.95), Op(ops.brightness, 0.05, 0.95),
    Op(ops.sharpness, 0.05, 0.95),
    Op(ops.shear_x, -0.1, 0.1), Op(ops.shear_y, -0.1, 0.1),
    Op(ops.translate_x, -0.1, 0.1), Op(ops.translate_y, -0.1, 0.1),
    Op(ops.posterize, 4, 8),
)

# FixMatch's RandAugment(3, 5) pool, used by SPICE stage 3 (spice.md §6): 14 ops.
FIXMATCH_OPS: tuple[Op, ...] = (
    Op(ops.autocontrast, 0, 1),
    Op(ops.brightness, 0.05, 0.95), Op(ops.color, 0.05, 0.95), Op(ops.contrast, 0.05, 0.95),
    Op(ops.equalize, 0, 1), Op(ops.identity, 0, 1), Op(ops.posterize, 4, 8), Op(ops.rotate, -30, 30),
    Op(ops.sharpness, 0.05, 0.95),
    Op(ops.shear_x, -0.3, 0.3), Op(ops.shear_y, -0.3, 0.3),
    Op(ops.solarize, 0, 256),
    Op(ops.translate_x, -0.3, 0.3), Op(ops.translate_y, -0.3, 0.3),
)


class RandomOps(v2.Transform):
    """Apply `n` ops drawn with replacement from a pool, each with a uniform random magnitude.

    Symmetric ranges already cover both directions, which is what SCAN's random
    mirroring of the geometric ops achieves. Takes and returns uint8 images.

    Args:
        pool: The ops to draw from.
        n: How many ops to apply, in the order drawn.

    Raises:
        ClustError: If `n` is negative.
    """

    def __init__(self, pool: Sequence[Op], n: int) -> None:
        super().__init__()
        if n < 0:
            raise ClustError(f"the number of RandAugment ops must be >= 0, got {n}")
        self.pool = tuple(pool)
        self.n = int(n)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        """Draw the ops and their magnitudes."""
        picks = torch.randint(len(self.pool), (self.n,)).tolist()
        fractions = torch.rand(self.n).tolist()
        steps = [(self.pool[pick], fraction) for pick, fraction in zip(picks, fractions)]
        return {"steps": [(op.apply, op.low + (op.high - op.low) * fraction) for op, fraction in steps]}

    def transform(self, inpt: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Apply the drawn ops in order."""
        for apply, magnitude in params["steps"]:
            inpt = apply(inpt, magnitude)
        return inpt
