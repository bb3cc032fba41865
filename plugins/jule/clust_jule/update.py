"""The exact cross terms of appendix eq. 14, from node-level degree vectors (numba-compiled).

Yang et al., CVPR 2016 (arXiv:1604.03628), appendix A.1: merging C_m and C_n, for every
other cluster C_i

    U(m∪n, i) = U(m, i) + U(n, i) + Σ_{v∈C_i} [in_v(C_m)·out_v(C_n) + in_v(C_n)·out_v(C_m)],

where in_v(C) = Σ_{u∈C} W[u, v] and out_v(C) = Σ_{u∈C} W[v, u]. Only nodes that receive an
edge from one cluster and send one to the other contribute, so the cost is
O(K_s·(|C_m| + |C_n|) + in-degree), never O(N).

Summation order (kept from the earlier NumPy version, so merges are bit-for-bit the same):
each degree is summed over the cluster's members in membership order, each bracket term
over the nodes v in ascending index, and the two terms are added last.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .sorting import heapsort

IN_M, OUT_M, IN_N, OUT_N = 0, 1, 2, 3   # columns of NodeVectors.value
OUT, INC, FIRST, SECOND = 0, 1, 2, 3    # columns of ClusterVectors.value


class SampleGraph(NamedTuple):
    """W (eq. 4, non-negative) and Wᵀ as CSR arrays."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    t_indptr: np.ndarray
    t_indices: np.ndarray
    t_data: np.ndarray


class NodeVectors(NamedTuple):
    """Scratch: in_v(C_m), out_v(C_m), in_v(C_n), out_v(C_n) as dense columns (zero when untouched; the four
    values of a node share a cache line), the nodes each one touches, and room for the contributing nodes
    of one bracket term."""

    value: np.ndarray       # float64[N, 4]
    touched: np.ndarray     # int64[4, N]
    count: np.ndarray       # int64[4]
    candidates: np.ndarray  # int64[N]


class ClusterVectors(NamedTuple):
    """Scratch: sparse per-cluster sums ``value[c]`` for the clusters ``keys[:count[0]]``."""

    value: np.ndarray    # float64[n_c, 4]: OUT, INC, FIRST and SECOND
    listed: np.ndarray   # bool[n_c]
    keys: np.ndarray     # int64[n_c]
    count: np.ndarray    # int64[1]


def node_vectors(n: int) -> NodeVectors:
    return NodeVectors(np.zeros((n, 4)), np.zeros((4, n), np.int64), np.zeros(4, np.int64), np.zeros(n, np.int64))


def cluster_vectors(n_clusters: int) -> ClusterVectors:
    return ClusterVectors(np.zeros((n_clusters, 4)), np.zeros(n_clusters, np.bool_),
                          np.zeros(n_clusters, np.int64), np.zeros(1, np.int64))


@njit(cache=True)
def _degrees(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, head: int, successor: np.ndarray,
             value: np.ndarray, touched: np.ndarray) -> int:
    """Σ of the matrix rows of the members (from ``head`` along ``successor``) into the dense ``value``;
    the touched nodes go to ``touched``, their count is returned."""
    count = 0
    u = head
    while u >= 0:
        for e in range(indptr[u], indptr[u + 1]):
            v, w = indices[e], data[e]
            if w > 0:
                if value[v] == 0.0:
                    touched[count] = v
                    count += 1
                value[v] += w
        u = successor[u]
    return count


@njit(cache=True)
def _by_cluster(scan: np.ndarray, touched: np.ndarray, other: np.ndarray, candidates: np.ndarray,
                labels: np.ndarray, vectors: ClusterVectors, target: np.ndarray) -> None:
    """Σ_{v∈C_i} scan[v]·other[v] for every cluster i, nodes v in ascending order, into ``target[i]``."""
    found = 0
    for v in touched:
        if other[v] > 0:
            candidates[found] = v
            found += 1
    common = candidates[:found]
    heapsort(common)
    value, listed, keys, count = vectors.value, vectors.listed, vectors.keys, vectors.count
    for v in common:
        c = labels[v]
        if not listed[c]:
            listed[c] = True
            keys[count[0]] = c
            count[0] += 1
            for column in range(4):
                value[c, column] = 0.0
        target[c] += scan[v] * other[v]


@njit(cache=True)
def cross_terms(graph: SampleGraph, labels: np.ndarray, head: np.ndarray, successor: np.ndarray, m: int, n: int,
                nodes: NodeVectors, vectors: ClusterVectors) -> None:
    """The two sums of the eq. 14 bracket for every cluster they are nonzero for, into ``vectors``
    rows FIRST (Σ in_v(C_m)·out_v(C_n)) and SECOND (Σ in_v(C_n)·out_v(C_m)); keys may include m and n."""
    value, touched, count = nodes.value, nodes.touched, nodes.count
    for column in range(4):
        member = head[m] if column < 2 else head[n]
        if column % 2 == 0:   # IN_M, IN_N: rows of W
            count[column] = _degrees(graph.indptr, graph.indices, graph.data, member, successor, value[:, column],
                                     touched[column])
        else:                 # OUT_M, OUT_N: rows of Wᵀ
            count[column] = _degrees(graph.t_indptr, graph.t_indices, graph.t_data, member, successor,
                                     value[:, column], touched[column])
    _by_cluster(value[:, OUT_N], touched[OUT_N, :count[OUT_N]], value[:, IN_M], nodes.candidates, labels, vectors,
                vectors.value[:, FIRST])
    _by_cluster(value[:, IN_N], touched[IN_N, :count[IN_N]], value[:, OUT_M], nodes.candidates, labels, vectors,
                vectors.value[:, SECOND])
    for column in range(4):
        for t in range(count[column]):
            value[touched[column, t], column] = 0.0
        count[column] = 0
