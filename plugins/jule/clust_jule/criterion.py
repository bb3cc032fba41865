"""The merge criterion of paper eq. 7 on a cluster's sorted neighbour affinities (numba-compiled).

Yang et al., CVPR 2016, "Joint Unsupervised Learning of Deep Representations and Image
Clusters" (arXiv:1604.03628), eq. 7: merge the cluster C_i and its nearest neighbour that
minimise −A(C_i, N_1) − λ/(K_c − 1) Σ_{k=2}^{K_c} (A(C_i, N_1) − A(C_i, N_k)).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def merge_score(top: np.ndarray, k_c: int, lam: float) -> float:
    """Negated eq. 7 loss: A₁ + λ/(K_c − 1) Σ_{k=2}^{K_c} (A₁ − A_k).

    ``top`` holds the cluster's largest affinities in descending order; missing
    ones (fewer than K_c neighbours) are 0, the affinity to a non-neighbour.
    The K_c term is always applied (paper), not only above 100 clusters (Torch).

    Args:
        top: Affinities A₁ ≥ A₂ ≥ … of the cluster to its nearest clusters (float64 array).
        k_c: Neighbour clusters considered (paper Table 2: 5).
        lam: Weight λ of term (7b) (paper Table 2: 1.0).
    """
    if len(top) == 0:
        return 0.0
    first = top[0]
    if k_c < 2:
        return first
    total = 0.0
    for k in range(1, k_c):
        total += first - (top[k] if k < len(top) else 0.0)
    return first + lam / (k_c - 1) * total


@njit(cache=True)
def nearest(candidates: np.ndarray, affinities: np.ndarray, index: np.ndarray, value: np.ndarray) -> int:
    """The cluster's nearest neighbours N_1..N_{K_c} of eq. 7: the ``len(index)`` largest ``affinities`` (of the
    clusters ``candidates``) into ``index``/``value`` in descending affinity, ties to the lower index.

    Returns:
        How many were written (fewer than ``len(index)`` when there are fewer candidates).
    """
    width, filled = len(index), 0
    for c in range(len(candidates)):
        j, a = candidates[c], affinities[c]
        if filled == width:
            if a < value[width - 1] or (a == value[width - 1] and j > index[width - 1]):
                continue
            position = width - 1
        else:
            position = filled
            filled += 1
        while position > 0 and (value[position - 1] < a or (value[position - 1] == a and index[position - 1] > j)):
            index[position] = index[position - 1]
            value[position] = value[position - 1]
            position -= 1
        index[position] = j
        value[position] = a
    return filled
