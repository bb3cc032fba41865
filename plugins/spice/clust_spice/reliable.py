"""SPICE's reliable pseudo-labelling by local semantic consistency (paper §III-C, eq. 6).

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (``tools/local_consistency.py``, ``spice/model/heads/sem_head_multi.py``
``local_consistency``; the values in ``configs/<dataset>/eval.py``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from clust_core.components import BuildContext, Outputs, Supervision
from clust_core.neighbors import knn


def reliable_labels(probs: Tensor, embedding: Tensor, neighbors: int = 100, ratio: float = 0.9,
                    min_confidence: float = 0.0, balance: bool = False, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Argmax labels and the mask of the samples whose neighbourhood agrees with them (eq. 6).

    y_i = argmax p_i; the ``neighbors`` nearest samples by cosine similarity
    (the list includes i itself, as the code) give r_i = the share of them
    labelled y_i; i is reliable if r_i >= ``ratio``.

    Args:
        probs: (N, K) probabilities of the selected head.
        embedding: (N, D) fixed embedding (L2-normalised here).
        neighbors: Neighbourhood size, capped at N (code ``num_neighbor``: 100).
        ratio: Consistency threshold (code ``ratio_confident``: 0.9; the CIFAR configs 0.99).
        min_confidence: Code-only filter: also require max p_i > it (the code's ``score_th`` 0.99; 0 keeps all).
        balance: Code-only: sub-sample every cluster at random to the smallest cluster's reliable count
            (over all K clusters, so a cluster with none empties the set, as the code).
        seed: Seed of the balancing draw.

    Returns:
        (labels (N,) int64 argmax of every sample, mask (N,) bool of the reliable ones), on the CPU.
    """
    confidence, labels = probs.detach().float().cpu().max(dim=1)
    k = min(neighbors, len(labels))
    _, indices = knn(F.normalize(embedding.detach().float(), dim=1), k=k, metric="ip")
    consistency = (labels[torch.from_numpy(indices)] == labels[:, None]).float().mean(dim=1)
    mask = (consistency >= ratio) & (confidence > min_confidence)
    if balance:
        mask = _balanced(labels, mask, probs.shape[1], seed)
    return labels, mask


def _balanced(labels: Tensor, mask: Tensor, k: int, seed: int) -> Tensor:
    """Keep, in every cluster, a random subset of its masked samples as large as the smallest cluster's count."""
    size = int(torch.bincount(labels[mask], minlength=k).min())
    generator = torch.Generator().manual_seed(seed)
    kept = torch.zeros_like(mask)
    for c in range(k):
        members = torch.nonzero(mask & (labels == c)).squeeze(1)
        kept[members[torch.randperm(len(members), generator=generator)[:size]]] = True
    return kept


class ReliableLabeler:
    """Dataset scope: :func:`reliable_labels` on the selected head's ``probs`` and the fixed ``embedding``.

    Args:
        ctx: Build context (seed of the balancing draw).
        neighbors: Neighbourhood size (§III-C; code ``configs/<dataset>/eval.py`` ``num_neighbor``: 100).
        ratio: Consistency threshold (§III-C; code ``ratio_confident``: 0.9, 0.99 in the CIFAR configs).
        min_confidence: Code-only max-probability filter (``sem_head_multi.py`` ``score_th``: 0.99; 0 = off,
            the paper).
        balance: Code-only per-cluster down-sampling to the smallest cluster (``sem_head_multi.py``
            ``local_consistency``; off, the paper).

    Attributes:
        reliable_fraction: Share of the dataset marked reliable at the last call (None before).
    """

    def __init__(self, ctx: BuildContext, neighbors: int = 100, ratio: float = 0.9, min_confidence: float = 0.0,
                 balance: bool = False) -> None:
        self.seed, self.log = ctx.seed, ctx.log
        self.neighbors, self.ratio, self.min_confidence, self.balance = neighbors, ratio, min_confidence, balance
        self.reliable_fraction: float | None = None

    def __call__(self, outputs: Outputs) -> Supervision:
        labels, mask = reliable_labels(outputs["probs"], outputs["embedding"], self.neighbors, self.ratio,
                                       self.min_confidence, self.balance, self.seed)
        self.reliable_fraction = float(mask.float().mean())
        self.log("reliable_fraction", self.reliable_fraction)
        return Supervision(labels=labels, mask=mask)
