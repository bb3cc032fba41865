"""DCCM's pseudo-labelers, computed on the original images of an outer batch (Algorithm 1, line 5).

DCCM: Wu et al., ICCV 2019, https://arxiv.org/abs/1904.06925; released code: https://github.com/Cory-M/DCCM.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from clust_core.builtin.labelers import ConfidentLabels
from clust_core.components import BuildContext, Outputs, Supervision


def cosine_graph(probs: Tensor, threshold: float) -> Tensor:
    """Pseudo-graph W (eq. 2): W_ij = [cos(z_i, z_j) >= thres1], diagonal included.

    The diagonal is kept as in the released code (``utils/functions.py`` ``comp_simi``, thresholded in ``main.py``).
    """
    z = F.normalize(probs.float(), dim=1)
    return (z @ z.T) >= threshold


class PseudoGraph:
    """Batch scope: the B x B pseudo-graph of eq. 2 as ``pairs`` (bool).

    Args:
        ctx: Build context (unused).
        threshold: thres1 (paper §4 "Implementation Details": 0.95).
    """

    def __init__(self, ctx: BuildContext, threshold: float = 0.95) -> None:
        del ctx
        self.threshold = threshold

    def __call__(self, outputs: Outputs) -> Supervision:
        return Supervision(pairs=cosine_graph(outputs["probs"], self.threshold))


class PseudoLabel(ConfidentLabels):
    """Batch scope: y_i = argmax z_i (eq. 7) as ``labels``, V_i = [max z_i >= thres2] (eq. 8) as ``mask``.

    Core's confident-argmax labeler is exactly this rule; DCCM names it after eqs. 7-8.

    Args:
        ctx: Build context (unused).
        threshold: thres2 (paper §4 "Implementation Details": 0.9).
    """
