"""SPICE's prototype pseudo-labelling, the E-step of SPICE-Self (paper §III-B, eqs. 2-4).

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (``spice/model/heads/sem_head.py`` ``select_samples``; ``center_ratio``
in ``configs/<dataset>/spice_self.py``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from clust_core.components import BuildContext, Outputs, Supervision
from clust_core.errors import ClustError


@torch.no_grad()
def prototype_targets(probs: Tensor, embedding: Tensor, center_ratio: float = 0.5) -> Tensor:
    """Overlapping multi-hot pseudo-labels from cluster prototypes (eqs. 2-4).

    For each cluster c the top M = int(center_ratio * B / K) samples by probs[:, c]
    (eq. 2) give the prototype mu_c, the mean of their embeddings, not
    re-normalised (eq. 3); the int(B / K) samples with the largest <mu_c, e_i>
    get label c (eq. 4). A sample may get several labels (overlap assignment).
    Extra axes between the batch and the clusters (the heads) are labelled
    independently, against the same embedding.

    Args:
        probs: (B, ..., K) cluster probabilities of the weak views.
        embedding: (B, D) fixed embedding of the same samples.
        center_ratio: M as a share of B / K (code ``center_ratio``: 0.5).

    Returns:
        (B, ..., K) float 0/1 targets, with exactly int(B / K) ones in each column.

    Raises:
        ClustError: If the batch is too small to pick one sample per prototype.
    """
    batch, k = probs.shape[0], probs.shape[-1]
    per_cluster, centers = int(batch / k), int(center_ratio * batch / k)
    if centers < 1:
        raise ClustError(f"prototype labelling needs at least {k / center_ratio:.0f} samples for {k} clusters "
                         f"(center_ratio {center_ratio}), got a batch of {batch}")
    flat = probs.detach().float().reshape(batch, -1, k)
    emb = embedding.detach().float().to(flat.device)
    top = torch.zeros_like(flat).scatter_(0, flat.topk(centers, dim=0).indices, 1.0 / centers)
    prototypes = torch.einsum("bhk,bd->hkd", top, emb)
    scores = torch.einsum("bd,hkd->bhk", emb, prototypes)
    targets = torch.zeros_like(flat).scatter_(0, scores.topk(per_cluster, dim=0).indices, 1.0)
    return targets.reshape(probs.shape)


class PrototypeLabeler:
    """Batch scope, views [weak, clean]: the E-step targets of every head (eqs. 2-4).

    Reads ``head_probs`` (B, H, K) of the first view (the weakly transformed images of
    §III-B's middle branch) and ``embedding`` (B, D) of the second (the original images of
    its top branch: the fixed clean-view embedding).

    Args:
        ctx: Build context (unused).
        center_ratio: M as a share of B / K (code ``center_ratio``: 0.5, the top 0.5 B/K per cluster build
            the prototype).
    """

    def __init__(self, ctx: BuildContext, center_ratio: float = 0.5) -> None:
        del ctx
        self.center_ratio = center_ratio

    def __call__(self, outputs: Sequence[Outputs]) -> Supervision:
        targets = prototype_targets(outputs[0]["head_probs"], outputs[1]["embedding"], self.center_ratio)
        return Supervision(targets=targets)
