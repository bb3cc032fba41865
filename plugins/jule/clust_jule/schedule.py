"""The learning-rate schedule `inv`: Caffe's "inv" policy, as JULE trains every period.

Yang, Parikh, Batra, "Joint Unsupervised Learning of Deep Representations and Image Clusters", CVPR 2016,
§4.1.2: "the inverse learning rate decay policy, with Gamma=0.0001 and Power=0.75"
(https://arxiv.org/abs/1604.03628); Caffe's policy is lr·(1 + gamma·t)^(−power) at iteration t.
"""
from __future__ import annotations

from collections.abc import Callable


def inv(total_steps: int, gamma: float = 1e-4, power: float = 0.75) -> Callable[[int], float]:
    """(1 + gamma·t)^(−power); the stage's length does not enter (§4.1.2: gamma 1e-4, power 0.75)."""
    del total_steps
    if gamma < 0 or power < 0:
        raise ValueError(f"gamma and power must be >= 0, got {gamma} and {power}")
    return lambda step: (1.0 + gamma * step) ** (-power)


SCHEDULES = {"inv": inv}
