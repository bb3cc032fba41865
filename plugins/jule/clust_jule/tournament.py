"""Argmax of the eq. 7 score over the live clusters: a tournament (segment) tree (numba-compiled).

Yang et al., CVPR 2016 (arXiv:1604.03628), eq. 7 picks the cluster whose merge with its
nearest neighbour has the lowest loss, i.e. the highest :func:`.criterion.merge_score`.
Leaf x holds cluster x (or −1 once it is merged away); every inner node holds the better of
its two children: higher score, ties to the lower index. A changed score costs O(log n_c);
the winner is ``tree[1]``.
"""
from __future__ import annotations

import numpy as np
from numba import njit


def empty_tree(n_clusters: int) -> np.ndarray:
    """A tree for clusters 0..n_c−1 with no cluster entered yet (enter each with :func:`update_tree`)."""
    leaves = 1 << max(n_clusters - 1, 0).bit_length()
    return np.full(2 * leaves, -1, dtype=np.int64)


@njit(cache=True)
def update_tree(tree: np.ndarray, score: np.ndarray, live: np.ndarray, x: int) -> None:
    """Replay the matches on the path of cluster ``x`` after its score or liveness changed."""
    node = len(tree) // 2 + x
    tree[node] = x if live[x] else -1
    node //= 2
    while node >= 1:
        p, q = tree[2 * node], tree[2 * node + 1]
        if q < 0 or (p >= 0 and (score[p] > score[q] or (score[p] == score[q] and p < q))):
            tree[node] = p
        else:
            tree[node] = q
        node //= 2
