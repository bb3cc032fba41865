"""The learning-rate schedule `fixmatch`: FixMatch's cosine decay, which SPICE's stage 3 keeps.

Sohn et al., "FixMatch: Simplifying Semi-Supervised Learning with Consistency and Confidence", NeurIPS 2020
(https://arxiv.org/abs/2001.07685): the rate at step t of T is η·cos(7πt / 16T), ending at cos(7π/16) ≈ 0.2 of
η. SPICE (Niu et al., IEEE TIP 2022, §IV-B, https://arxiv.org/abs/2103.09382) trains its semi-supervised stage
with "the same hyper-parameters as FixMatch"; the released code's LambdaLR has this factor, no warm-up.
"""
from __future__ import annotations

import math
from collections.abc import Callable


def fixmatch(total_steps: int) -> Callable[[int], float]:
    """cos(7π·t / 16T) over the stage's T steps."""
    span = max(total_steps, 1)
    return lambda step: math.cos(7 * math.pi * min(step, span) / (16 * span))


SCHEDULES = {"fixmatch": fixmatch}
