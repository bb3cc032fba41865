"""Neighbour mining against brute force, and the lowest-loss head against a direct computation."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from clust_core.components import BuildContext
from clust_scan.losses import scan_loss
from clust_scan.mining import NeighbourMining
from clust_scan.selection import LowestLossHead

CTX = BuildContext(shape=(1, 8, 8), k=3, n=200, dataset="tiny")


def test_mined_neighbours_are_the_brute_force_top_k_plus_the_image_itself() -> None:
    embedding = F.normalize(torch.randn(200, 16, generator=torch.Generator().manual_seed(0)), dim=1)
    neighbours = NeighbourMining(CTX, k=5)({"embedding": embedding}).neighbours
    scores = (embedding @ embedding.T).numpy()
    brute = np.argsort(-scores, axis=1, kind="stable")[:, :6]
    assert neighbours.shape == (200, 6) and neighbours.dtype == torch.long
    assert all(set(row) == set(expected) for row, expected in zip(neighbours.tolist(), brute.tolist()))
    assert all(i in row for i, row in enumerate(neighbours.tolist())), "each image is among its own neighbours"


def test_lowest_loss_head_scores_each_head_over_all_mined_pairs() -> None:
    generator = torch.Generator().manual_seed(1)
    embedding = F.normalize(torch.randn(50, 8, generator=generator), dim=1)
    head_probs = torch.randn(50, 4, 3, generator=generator).mul(3).softmax(dim=2)
    chooser = LowestLossHead(CTX, k=4)
    assignment = chooser.fit({"head_probs": head_probs, "embedding": embedding})
    table = NeighbourMining(CTX, k=4)({"embedding": embedding}).neighbours
    direct = []
    for h in range(4):
        anchors = head_probs[:, h].repeat_interleave(5, dim=0)
        paired = head_probs[table.flatten(), h]
        direct.append(scan_loss(anchors, paired, 5.0)[0])
    assert torch.allclose(chooser.losses_, torch.stack(direct), atol=1e-5)
    assert chooser.head == int(torch.stack(direct).argmin())
    assert np.array_equal(assignment.labels, head_probs[:, chooser.head].argmax(dim=1).numpy())
