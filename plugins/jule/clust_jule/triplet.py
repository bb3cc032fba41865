"""JULE's weighted triplet loss (paper eqs. 10-11) and the released code's hinge variant.

Triplets come from the batch's cluster labels: every unordered same-cluster pair
(i < j, anchor i) is a positive; negatives are other-cluster samples of the same
batch. The loss builds them itself from ``labels`` and the embedding, because the
paper's negatives depend on the current features (the K_c samples of other
clusters nearest to the anchor, §3.5.2), which a labeler computed before the
forward pass could only approximate.

JULE: Yang, Parikh, Batra, CVPR 2016, https://arxiv.org/abs/1604.03628; released Torch code:
https://github.com/jwyang/JULE.torch (``criterions/TripletEmbedding.lua``, triplets built in ``train.lua``).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from clust_core.components import BuildContext, Outputs, Supervision


def positive_pairs(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Anchors and positives: all (i, j), i < j, with labels[i] == labels[j]."""
    same = labels[:, None] == labels[None, :]
    return torch.triu(same, diagonal=1).nonzero(as_tuple=True)


def squared_distances(embedding: Tensor) -> Tensor:
    """B×B matrix of ‖x_i − x_j‖² (smooth everywhere, unlike the gradient of a square root)."""
    norms = (embedding * embedding).sum(dim=1)
    return (norms[:, None] + norms[None, :] - 2 * embedding @ embedding.T).clamp_min(0)


def choose_negatives(distances: Tensor, labels: Tensor, anchors: Tensor, count: int, nearest: bool) -> tuple[Tensor, Tensor]:
    """Up to ``count`` other-cluster negatives per anchor: the nearest ones, or distinct random ones.

    Returns:
        (row into ``anchors``, negative index) for every chosen negative.
    """
    other = labels[anchors][:, None] != labels[None, :]
    count = min(count, int(other.sum(dim=1).max()) if len(anchors) else 0)
    if count == 0:
        empty = torch.zeros(0, dtype=torch.long, device=labels.device)
        return empty, empty
    keys = distances.detach()[anchors] if nearest else torch.rand(other.shape, device=labels.device)
    keys = keys.masked_fill(~other, float("inf"))
    chosen = keys.topk(count, dim=1, largest=False)
    rows = torch.arange(len(anchors), device=labels.device)[:, None].expand(-1, count)
    valid = torch.isfinite(chosen.values)
    return rows[valid], chosen.indices[valid]


def weighted_triplet_loss(embedding: Tensor, labels: Tensor, *, gamma: float = 2.0, lam: float = 1.0,
                          k_c: int = 5) -> Tensor:
    """Eq. 11: −λ/(K_c − 1) Σ_{(i,j,k)} [γ A(x_i, x_j) − A(x_i, x_k)], with A(x, y) = −‖x − y‖².

    The sum runs over positive pairs (i, j) and the K_c other-cluster samples k nearest
    to x_i in the batch; it is divided by the number of positive pairs. 0 (with a
    gradient) when the batch holds no positive pair.
    """
    anchors, positives = positive_pairs(labels)
    distances = squared_distances(embedding)
    rows, negatives = choose_negatives(distances, labels, anchors, k_c, nearest=True)
    if len(rows) == 0:
        return embedding.sum() * 0.0
    a = anchors[rows]
    terms = gamma * distances[a, positives[rows]] - distances[a, negatives]
    return lam / max(k_c - 1, 1) * terms.sum() / len(anchors)


def hinge_triplet_loss(embedding: Tensor, labels: Tensor, *, gamma: float = 1.0, margin: float = 0.2,
                       negatives: int = 20) -> Tensor:
    """Torch code (``TripletEmbedding.lua``): mean of max(0, γ‖a − p‖² − ‖a − n‖² + margin) over
    triplets with ``negatives`` distinct random other-cluster samples per positive pair,
    capped at the number of clusters in the batch − 1 (``train.lua`` ``organize_samples``)."""
    anchors, positives = positive_pairs(labels)
    cap = min(negatives, max(int(torch.unique(labels).numel()) - 1, 0))
    distances = squared_distances(embedding)
    rows, chosen = choose_negatives(distances, labels, anchors, cap, nearest=False)
    if len(rows) == 0:
        return embedding.sum() * 0.0
    a = anchors[rows]
    return torch.relu(gamma * distances[a, positives[rows]] - distances[a, chosen] + margin).mean()


class TripletLoss(nn.Module):
    """``form="paper"``: eq. 11 (γ = 2, K_c nearest negatives); ``form="hinge"``: the Torch code's
    hinge (γ_tr = 1, margin 0.2, 20 random negatives).

    Args:
        ctx: Build context (unused).
        form: ``paper`` (eq. 11) or ``hinge`` (Torch ``TripletEmbedding.lua``).
        gamma: γ of eq. 11 (paper Table 2: 2.0).
        lam: λ of eq. 11 (paper Table 2: 1.0).
        k_c: Negatives come from the K_c nearest other clusters (paper Table 2, §3.5.2: 5).
        hinge_gamma: γ_tr of the hinge form (Torch ``-gamma_tr``: 1).
        margin: Margin of the hinge form (Torch ``TripletEmbedding`` margin: 0.2).
        negatives: Random negatives per positive pair in the hinge form (Torch ``num_nsampling``: 20).
    """

    def __init__(self, ctx: BuildContext, form: str = "paper", gamma: float = 2.0, lam: float = 1.0, k_c: int = 5,
                 hinge_gamma: float = 1.0, margin: float = 0.2, negatives: int = 20) -> None:
        super().__init__()
        if form not in ("paper", "hinge"):
            raise ValueError(f"form must be 'paper' or 'hinge', got {form!r}")
        self.form, self.gamma, self.lam, self.k_c = form, gamma, lam, k_c
        self.hinge_gamma, self.margin, self.negatives = hinge_gamma, margin, negatives

    def forward(self, outputs: list[Outputs], supervision: Supervision) -> Tensor:
        embedding, labels = outputs[0]["embedding"].float(), supervision.labels
        if supervision.mask is not None:
            embedding, labels = embedding[supervision.mask], labels[supervision.mask]
        if self.form == "paper":
            return weighted_triplet_loss(embedding, labels, gamma=self.gamma, lam=self.lam, k_c=self.k_c)
        return hinge_triplet_loss(embedding, labels, gamma=self.hinge_gamma, margin=self.margin,
                                  negatives=self.negatives)
