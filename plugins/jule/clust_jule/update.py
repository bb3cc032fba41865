"""The exact cross terms of appendix eq. 14, from node-level sparse degree vectors.

Merging C_m and C_n, for every other cluster C_i

    U(m∪n, i) = U(m, i) + U(n, i) + Σ_{v∈C_i} [in_v(C_m)·out_v(C_n) + in_v(C_n)·out_v(C_m)],

where in_v(C) = Σ_{u∈C} W[u, v] and out_v(C) = Σ_{u∈C} W[v, u]. Only nodes that receive an
edge from one cluster and send one to the other contribute, so the cost is
O(K_s·(|C_m| + |C_n|) + in-degree), never O(N).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse


def degree_vector(matrix: scipy.sparse.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ of ``matrix``'s ``rows`` as a sparse vector (sorted node indices, values)."""
    sub = matrix[rows]
    nodes, inverse = np.unique(sub.indices, return_inverse=True)
    return nodes, np.bincount(inverse, weights=sub.data, minlength=len(nodes))


def _product_by_cluster(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray],
                        labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ_{v∈C_i} first[v]·second[v] for every cluster i with a nonzero sum."""
    common, i1, i2 = np.intersect1d(first[0], second[0], assume_unique=True, return_indices=True)
    clusters, inverse = np.unique(labels[common], return_inverse=True)
    return clusters, np.bincount(inverse, weights=first[1][i1] * second[1][i2], minlength=len(clusters))


def cross_terms(weights: scipy.sparse.csr_matrix, transposed: scipy.sparse.csr_matrix, labels: np.ndarray,
                members_m: np.ndarray, members_n: np.ndarray) -> dict[int, float]:
    """The bracket of eq. 14 for every cluster it is nonzero for (keys may include m and n themselves)."""
    in_m, in_n = degree_vector(weights, members_m), degree_vector(weights, members_n)
    out_m, out_n = degree_vector(transposed, members_m), degree_vector(transposed, members_n)
    result: dict[int, float] = {}
    for clusters, values in (_product_by_cluster(in_m, out_n, labels), _product_by_cluster(in_n, out_m, labels)):
        for c, v in zip(clusters.tolist(), values.tolist()):
            result[c] = result.get(c, 0.0) + v
    return result


def add_rows(first: dict[int, float], second: dict[int, float], third: dict[int, float],
             drop: tuple[int, int]) -> dict[int, float]:
    """Key-wise sum of three sparse rows of U (eqs. 13-14), without the keys in ``drop`` and without zeros."""
    out = dict(first)
    for row in (second, third):
        for key, value in row.items():
            out[key] = out.get(key, 0.0) + value
    return {k: v for k, v in out.items() if k not in drop and v > 0}
