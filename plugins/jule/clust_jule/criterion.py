"""The merge criterion of paper eq. 7 on a cluster's sorted neighbour affinities."""
from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence


def merge_score(top: Sequence[float], k_c: int, lam: float) -> float:
    """Negated eq. 7 loss: A₁ + λ/(K_c − 1) Σ_{k=2}^{K_c} (A₁ − A_k).

    ``top`` holds the cluster's largest affinities in descending order; missing
    ones (fewer than K_c neighbours) are 0, the affinity to a non-neighbour.
    The K_c term is always applied (paper), not only above 100 clusters (Torch).

    Args:
        top: Affinities A₁ ≥ A₂ ≥ … of the cluster to its nearest clusters.
        k_c: Neighbour clusters considered (paper Table 2: 5).
        lam: Weight λ of term (7b) (paper Table 2: 1.0).
    """
    if not top:
        return 0.0
    first = top[0]
    if k_c < 2:
        return first
    values = list(top[:k_c]) + [0.0] * (k_c - min(len(top), k_c))
    return first + lam / (k_c - 1) * sum(first - value for value in values[1:])


def top_neighbours(affinities: Mapping[int, float], k_c: int) -> list[tuple[int, float]]:
    """The ``k_c`` (cluster, affinity) pairs of largest affinity, in descending order (ties: lower index)."""
    return heapq.nsmallest(max(k_c, 1), affinities.items(), key=lambda item: (-item[1], item[0]))
