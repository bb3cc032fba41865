"""SCAN's mining step: each image's K nearest neighbours in the pretext embedding (§2.1).

Van Gansbeke et al., ECCV 2020, https://arxiv.org/abs/2005.12320, §2.1 and §3.1 (K = 20); the released code
searches top-(K + 1) by inner product with FAISS, so each image is among its own neighbours
(``utils/memory.py``, ``data/custom_dataset.py`` NeighborsDataset).
"""
from __future__ import annotations

import torch

from clust_core.components import BuildContext, Outputs, Supervision
from clust_core.neighbors import knn


class NeighbourMining:
    """Dataset scope: ``neighbours`` = the K + 1 nearest images of each image by inner product of its embedding,
    itself included (a neighbour view then shows the image itself with probability 1/(K + 1), as the code).

    Args:
        ctx: Build context.
        k: Neighbours mined per image (§3.1 and the CIFAR/STL configs: 20; ImageNet subsets: 50).
    """

    def __init__(self, ctx: BuildContext, k: int = 20) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k

    def __call__(self, outputs: Outputs) -> Supervision:
        embedding = outputs["embedding"].float()
        width = min(self.k + 1, len(embedding))
        _, indices = knn(embedding, k=width, metric="ip")
        return Supervision(neighbours=torch.from_numpy(indices).to(torch.long))
