"""SCAN's head selection on the ImageNet subsets: keep the head with the lowest SCAN loss (no labels).

Van Gansbeke et al., ECCV 2020, https://arxiv.org/abs/2005.12320, §3.1; released code
``utils/evaluate_utils.py`` (scan_evaluate: the SCAN loss of every head over the data and its mined
neighbours; the lowest total wins).
"""
from __future__ import annotations

import torch
from torch import Tensor

from clust_core.components import Assignment, BuildContext, Outputs
from clust_core.neighbors import knn
from clust_spice.selection import KeptHead

from .losses import entropy, pair_consistency


class LowestLossHead(KeptHead):
    """Mine each image's K nearest neighbours in the embedding, score every head by eq. 2 over all (image,
    neighbour) pairs, keep the lowest; cluster = that head's argmax, confidence its probability (SPICE's
    :class:`~clust_spice.selection.KeptHead`).

    Args:
        ctx: Build context.
        k: Neighbours per image (as the mining step: 20; 50 on the ImageNet subsets).
        entropy_weight: λ of eq. 2 (5.0).
    """

    def __init__(self, ctx: BuildContext, k: int = 20, entropy_weight: float = 5.0) -> None:
        self.k, self.entropy_weight, self.log = k, entropy_weight, ctx.log

    def fit(self, outputs: Outputs) -> Assignment:
        probs = outputs["head_probs"].float().transpose(0, 1)  # H x N x K
        _, indices = knn(outputs["embedding"].float(), k=min(self.k + 1, probs.shape[1]), metric="ip")
        neighbours = torch.from_numpy(indices).to(probs.device)
        self.losses_ = torch.stack([self._head_loss(head, neighbours) for head in probs]).cpu()
        self.head = int(self.losses_.argmin())
        self.log("kept_head", self.head)
        return self.predict(outputs)

    def _head_loss(self, probs: Tensor, neighbours: Tensor, rows: int = 4096) -> Tensor:
        """Eq. 2 over every (image, mined neighbour) pair of one head, in chunks of ``rows`` images."""
        total = sum(pair_consistency(probs[start:start + rows, None, :], probs[neighbours[start:start + rows]]).sum()
                    for start in range(0, len(probs), rows))
        return total / neighbours.numel() - self.entropy_weight * entropy(probs.mean(dim=0))
