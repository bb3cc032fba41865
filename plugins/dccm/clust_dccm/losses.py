"""DCCM's pseudo-graph and pseudo-label losses (eqs. 3, 9 and their transformed-view forms, eq. 12).

DCCM: Wu et al., ICCV 2019, https://arxiv.org/abs/1904.06925; released code: https://github.com/Cory-M/DCCM.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext, Outputs, Supervision

EPS = 1e-12
"""Inside the logarithms, as the released code's ``WeightedBCE`` (``utils/util.py``)."""


def _log(x: Tensor) -> Tensor:
    return torch.log(x.clamp(min=EPS))


def graph_loss(probs: Tensor, graph: Tensor) -> Tensor:
    """l_g summed over pairs (eq. 3), as a mean: BCE between cos(z_i, z_j) and W_ij over all B x B pairs.

    The diagonal is included and the similarity is taken as is (the code's
    division by its maximum is a division by the diagonal's 1).

    Args:
        probs: B x K predictions z of the view the loss trains.
        graph: B x B pseudo-graph W (bool or 0/1), from the original images.
    """
    z = F.normalize(probs.float(), dim=1)
    similarity = z @ z.T
    target = graph.float()
    return -(target * _log(similarity) + (1 - target) * _log(1 - similarity)).mean()


def label_loss(probs: Tensor, labels: Tensor, mask: Tensor, form: str = "ce") -> Tensor:
    """Sum over i of V_i * l_l(z_i, y_i) (eq. 9), as a mean over all B samples (the code's normalisation).

    Args:
        probs: B x K predictions z.
        labels: Pseudo-labels y (eq. 7).
        mask: V (eq. 8); samples with V_i = 0 add 0 but still count in the mean.
        form: ``"ce"``: l_l = cross-entropy -log z_iy (paper §3.2); ``"bce"``: the mean over
            the K classes of binary CE between z_i and one_hot(y_i) (code's ``WeightedBCE``).
    """
    p = probs.float()
    if form == "ce":
        per_sample = -_log(p.gather(1, labels.long()[:, None]).squeeze(1))
    elif form == "bce":
        target = F.one_hot(labels.long(), p.shape[1]).float()
        per_sample = -(target * _log(p) + (1 - target) * _log(1 - p)).mean(dim=1)
    else:
        raise ValueError(f"form must be 'ce' or 'bce', got {form!r}")
    return (per_sample * mask.float()).mean()


class GraphLoss(nn.Module):
    """L_PG on the view it reads (L'_PG on a transformed view, eq. 12), W from ``pairs``."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        del ctx

    def forward(self, outputs: list[Outputs], supervision: Supervision) -> Tensor:
        return graph_loss(outputs[0]["probs"], supervision.pairs)


class LabelLoss(nn.Module):
    """L_PL on the view it reads (L'_PL on a transformed view, eq. 12), y and V from ``labels``/``mask``.

    Args:
        ctx: Build context (unused).
        form: ``"ce"`` (paper §3.2: cross-entropy) or ``"bce"`` (released code's ``WeightedBCE``), see
            :func:`label_loss`.
    """

    def __init__(self, ctx: BuildContext, form: str = "ce") -> None:
        super().__init__()
        del ctx
        if form not in ("ce", "bce"):
            raise ValueError(f"form must be 'ce' or 'bce', got {form!r}")
        self.form = form

    def forward(self, outputs: list[Outputs], supervision: Supervision) -> Tensor:
        mask = supervision.mask if supervision.mask is not None else torch.ones_like(supervision.labels, dtype=torch.bool)
        return label_loss(outputs[0]["probs"], supervision.labels, mask, self.form)
