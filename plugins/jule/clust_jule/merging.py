"""Agglomerative merging over a fixed sample graph with per-cluster neighbour lists (numba-compiled).

Yang et al., CVPR 2016, "Joint Unsupervised Learning of Deep Representations and Image Clusters"
(arXiv:1604.03628). The state holds, for every live cluster x, the sparse row of U(x, j) and
U(j, x) over its neighbours j (:mod:`.rows`), so memory is O(N·K_s) and a merge touches only
the neighbours of the two clusters (appendix eqs. 13-14, or eq. 21). Each cluster keeps its
K_c best neighbours and its eq. 7 score (:mod:`.criterion`); a tournament tree over clusters
(:mod:`.tournament`) gives the argmax of eq. 7 without re-sorting an n_c×n_c matrix. The merge
loop runs compiled; only the rare nearest-mean fallback returns to Python.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse
from numba import njit

from .affinity import unnormalised_affinity
from .criterion import merge_score, nearest
from .rows import Rows, build_rows, contract, release, write_row
from .tournament import empty_tree, update_tree
from .update import (FIRST, INC, OUT, SECOND, ClusterVectors, NodeVectors, SampleGraph, cluster_vectors,
                     cross_terms, node_vectors)


class Clusters(NamedTuple):
    """Membership (linked lists in merge order), sizes, feature sums and liveness of every cluster."""

    labels: np.ndarray     # int64[N]
    head: np.ndarray       # int64[n_c]: first member, −1 once merged away
    tail: np.ndarray       # int64[n_c]: last member
    successor: np.ndarray  # int64[N]: next member of the same cluster, −1 at the end
    sizes: np.ndarray      # float64[n_c]
    sums: np.ndarray       # float64[n_c, D]
    live: np.ndarray       # bool[n_c]


class Ranking(NamedTuple):
    """Each cluster's K_c nearest clusters (descending affinity), its eq. 7 score, the tournament tree,
    and scratch: one row's affinities and the clusters waiting for a refresh."""

    index: np.ndarray     # int64[n_c, K_c]
    value: np.ndarray     # float64[n_c, K_c]
    count: np.ndarray     # int64[n_c]
    score: np.ndarray     # float64[n_c]
    tree: np.ndarray      # int64[2·2^⌈log2 n_c⌉]
    affinity: np.ndarray  # float64[n_c]
    queue: np.ndarray     # int64[n_c]


class Settings(NamedTuple):
    """Merge criterion (eq. 7) and affinity update (eq. 14 exact, or eq. 21 with α)."""

    k_c: int
    lam: float
    exact: bool
    alpha: float


class ClusterGraph:
    """Clusters over a directed sample graph W, merged one pair at a time.

    Args:
        weights: N×N sparse W (eq. 4; non-negative).
        labels: Initial cluster of each sample, 0..n_c−1, every label used.
        features: N×D features (cluster means for the isolated-cluster fallback).
        k_c, lam: Merge criterion (eq. 7; Table 2: 5, 1.0).
        update: "exact" (appendix eq. 14, the paper's choice) or "fast" (eq. 21).
        alpha: α of eq. 21 (appendix A.2; 0 is the Torch code's ``-use_fast 1``).
    """

    def __init__(self, weights: scipy.sparse.csr_matrix, labels: np.ndarray, features: np.ndarray, *,
                 k_c: int = 5, lam: float = 1.0, update: str = "exact", alpha: float = 0.0) -> None:
        if update not in ("exact", "fast"):
            raise ValueError(f"update must be 'exact' or 'fast', got {update!r}")
        w = weights.tocsr().astype(np.float64)
        wt = w.T.tocsr()
        self.labels = np.asarray(labels, dtype=np.int64).copy()
        n_c = int(self.labels.max()) + 1
        order = np.argsort(self.labels, kind="stable")
        bounds = np.searchsorted(self.labels[order], np.arange(n_c + 1))
        sizes = np.diff(bounds)
        if (sizes == 0).any():
            raise ValueError("labels must use every cluster index 0..max")
        successor = np.full(len(self.labels), -1, dtype=np.int64)
        same = self.labels[order[1:]] == self.labels[order[:-1]]
        successor[order[:-1][same]] = order[1:][same]
        # Σ of each cluster's features in sample order (row by row, as np.add.at would, but fast)
        sums = np.add.reduceat(np.asarray(features, dtype=np.float64)[order], bounds[:-1], axis=0)
        self._clusters = Clusters(self.labels, order[bounds[:-1]].astype(np.int64),
                                  order[bounds[1:] - 1].astype(np.int64), successor, sizes.astype(np.float64),
                                  sums, np.ones(n_c, dtype=np.bool_))
        self._graph = SampleGraph(*(np.ascontiguousarray(a) for a in (
            w.indptr.astype(np.int64), w.indices.astype(np.int64), w.data,
            wt.indptr.astype(np.int64), wt.indices.astype(np.int64), wt.data)))
        self._rows = build_rows(unnormalised_affinity(w, self.labels, n_c), w, self.labels)
        width = max(k_c, 1)
        self._settings = Settings(int(k_c), float(lam), update == "exact", float(alpha))
        self._ranking = _rank_all(self._rows, self._clusters, self._settings, width)
        self._nodes: NodeVectors = node_vectors(len(self.labels))
        self._vectors: ClusterVectors = cluster_vectors(n_c)
        self.n_clusters = n_c

    @property
    def live(self) -> np.ndarray:
        """Boolean mask of the clusters not merged away."""
        return self._clusters.live

    def row(self, x: int) -> dict[int, tuple[float, float]]:
        """The neighbours j of cluster ``x`` with (U(x, j), U(j, x)) (see :mod:`.affinity`)."""
        rows = self._rows
        span = slice(rows.start[x], rows.start[x] + rows.length[x])
        return {int(j): (float(o), float(i)) for j, o, i in zip(rows.neighbour[span], rows.out[span], rows.inc[span])}

    def neighbours(self, x: int) -> list[tuple[int, float]]:
        """Cluster ``x``'s K_c nearest clusters with their eq. 12 affinities, in descending order."""
        count = self._ranking.count[x]
        return list(zip(self._ranking.index[x, :count].tolist(), self._ranking.value[x, :count].tolist()))

    def best(self) -> tuple[int, float]:
        """The cluster whose merge with its nearest neighbour minimises eq. 7, and its score."""
        x = int(self._ranking.tree[1])
        return x, float(self._ranking.score[x])

    def step(self) -> tuple[int, int]:
        """One merge of :meth:`run`; returns (kept, removed)."""
        kept, removed = self.run(1)[0]
        return int(kept), int(removed)

    def run(self, n_merges: int) -> np.ndarray:
        """Merge ``n_merges`` times: each time the best cluster with its nearest neighbour (eq. 7), or, if no
        cluster has a positive affinity left, the best one with the cluster of nearest mean.

        Returns:
            (n_merges, 2) array of the (kept, removed) cluster of each merge.
        """
        history = np.zeros((n_merges, 2), dtype=np.int64)
        done = 0
        while done < n_merges:
            done += _run(self._rows, self._clusters, self._ranking, self._graph, self._nodes, self._vectors,
                         self._settings, history[done:])
            self.n_clusters = int(self.live.sum())
            if done < n_merges:
                x = self.best()[0]
                history[done] = self.merge(x, self.nearest_mean(x))
                done += 1
        return history

    def nearest_mean(self, x: int) -> int:
        """The live cluster whose feature mean is closest to that of ``x``."""
        others = np.flatnonzero(self.live)
        others = others[others != x]
        sums, sizes = self._clusters.sums, self._clusters.sizes
        means = sums[others] / sizes[others, None]
        gaps = ((means - sums[x] / sizes[x]) ** 2).sum(axis=1)
        return int(others[gaps.argmin()])

    def isolated(self) -> list[int]:
        """Live clusters with zero affinity to every other cluster."""
        return np.flatnonzero(self.live & (self._rows.length == 0)).tolist()

    def merge(self, a: int, b: int) -> tuple[int, int]:
        """Merge clusters ``a`` and ``b`` (the smaller into the larger); update U by eqs. 13-14 (or 21)."""
        kept, removed = _merge(self._rows, self._clusters, self._ranking, self._graph, self._nodes, self._vectors,
                               self._settings, a, b)
        self.n_clusters -= 1
        return kept, removed

    def compact_labels(self) -> np.ndarray:
        """Current labels renumbered 0..n_c−1 in order of first appearance of each cluster index."""
        _, compact = np.unique(self.labels, return_inverse=True)
        return compact.astype(np.int64)


def _rank_all(rows: Rows, clusters: Clusters, settings: Settings, width: int) -> Ranking:
    n_c = len(clusters.sizes)
    ranking = Ranking(np.zeros((n_c, width), np.int64), np.zeros((n_c, width)), np.zeros(n_c, np.int64),
                      np.zeros(n_c), empty_tree(n_c), np.zeros(n_c), np.arange(n_c, dtype=np.int64))
    _refresh(rows, clusters, ranking, settings, n_c)
    return ranking


@njit(cache=True)
def _refresh(rows: Rows, clusters: Clusters, ranking: Ranking, settings: Settings, count: int) -> None:
    """For each cluster x in ``ranking.queue[:count]``: its K_c nearest neighbours by eq. 12,
    A(x, j) = U(x, j)/|C_x|² + U(j, x)/|C_j|², its eq. 7 score and its place in the tournament tree."""
    start, length, neighbour, out, inc = rows.start, rows.length, rows.neighbour, rows.out, rows.inc
    sizes, affinity = clusters.sizes, ranking.affinity
    for t in range(count):
        x = ranking.queue[t]
        first, width = start[x], length[x]
        inverse = 1.0 / (sizes[x] * sizes[x])
        for p in range(width):
            j = neighbour[first + p]
            affinity[p] = out[first + p] * inverse + inc[first + p] / (sizes[j] * sizes[j])
        filled = nearest(neighbour[first:first + width], affinity[:width], ranking.index[x], ranking.value[x])
        ranking.count[x] = filled
        ranking.score[x] = merge_score(ranking.value[x, :filled], settings.k_c, settings.lam)
        update_tree(ranking.tree, ranking.score, clusters.live, x)


@njit(cache=True)
def _merge(rows: Rows, clusters: Clusters, ranking: Ranking, graph: SampleGraph, nodes: NodeVectors,
           vectors: ClusterVectors, settings: Settings, a: int, b: int) -> tuple[int, int]:
    """Merge ``b`` into ``a`` (the smaller into the larger): U(a∪b, i) by eq. 13 (incoming) and eq. 14
    (outgoing, or eq. 21: (1 + α)(U(a, i) + U(b, i))), neighbour rows, membership, and the ranks of ``a``
    and of the neighbours whose K_c list the merge can change."""
    sizes = clusters.sizes
    if sizes[b] > sizes[a]:
        a, b = b, a
    value, listed, keys = vectors.value, vectors.listed, vectors.keys
    count = 0
    for x in (a, b):   # U(a, j) + U(b, j) and U(j, a) + U(j, b) for every neighbour j
        for p in range(rows.start[x], rows.start[x] + rows.length[x]):
            j = rows.neighbour[p]
            if j != a and j != b:
                if not listed[j]:
                    listed[j] = True
                    keys[count] = j
                    count += 1
                    for column in range(4):
                        value[j, column] = 0.0
                value[j, OUT] += rows.out[p]
                value[j, INC] += rows.inc[p]
    vectors.count[0] = count
    if settings.exact:
        cross_terms(graph, clusters.labels, clusters.head, clusters.successor, a, b, nodes, vectors)
        count = vectors.count[0]
    else:
        for t in range(count):
            value[keys[t], FIRST] = settings.alpha * value[keys[t], OUT]
    kept = 0
    for t in range(count):
        j = keys[t]
        listed[j] = False
        if j == a or j == b:
            continue
        u_aj = value[j, OUT] + (value[j, FIRST] + value[j, SECOND])
        value[j, OUT] = u_aj if u_aj > 0 else 0.0
        value[j, INC] = value[j, INC] if value[j, INC] > 0 else 0.0
        keys[kept] = j
        kept += 1
    release(rows, a)
    release(rows, b)
    contract(rows, keys[:kept], a, b, value[:, INC], value[:, OUT])
    retained = 0
    for t in range(kept):
        j = keys[t]
        if value[j, OUT] > 0 or value[j, INC] > 0:
            keys[retained] = j
            retained += 1
    write_row(rows, a, keys[:retained], value[:, OUT], value[:, INC])
    u = clusters.head[b]
    while u >= 0:
        clusters.labels[u] = a
        u = clusters.successor[u]
    clusters.successor[clusters.tail[a]] = clusters.head[b]
    clusters.tail[a] = clusters.tail[b]
    clusters.head[b] = -1
    sizes[a] += sizes[b]
    for k in range(clusters.sums.shape[1]):
        clusters.sums[a, k] += clusters.sums[b, k]
    clusters.live[b] = False
    update_tree(ranking.tree, ranking.score, clusters.live, b)
    queue, top, top_value, top_count = ranking.queue, ranking.index, ranking.value, ranking.count
    queue[0] = a
    queued = 1
    for t in range(retained):   # renew j only if the merge can change its list (a or b listed, list short,
        j = keys[t]             # or the merged cluster now beats its last entry)
        stale = top_count[j] < settings.k_c
        for s in range(top_count[j]):
            stale = stale or top[j, s] == a or top[j, s] == b
        if stale or (value[j, INC] / (sizes[j] * sizes[j]) + value[j, OUT] / (sizes[a] * sizes[a])
                     >= top_value[j, top_count[j] - 1]):
            queue[queued] = j
            queued += 1
    _refresh(rows, clusters, ranking, settings, queued)
    return a, b


@njit(cache=True)
def _run(rows: Rows, clusters: Clusters, ranking: Ranking, graph: SampleGraph, nodes: NodeVectors,
         vectors: ClusterVectors, settings: Settings, history: np.ndarray) -> int:
    """Merge the eq. 7 argmax with its nearest neighbour up to ``len(history)`` times, recording (kept, removed);
    stop early, returning the count done, when the best cluster has no positive affinity left."""
    for t in range(len(history)):
        x = ranking.tree[1]
        if ranking.count[x] == 0 or not ranking.score[x] > 0:
            return t
        kept, removed = _merge(rows, clusters, ranking, graph, nodes, vectors, settings, x, ranking.index[x, 0])
        history[t, 0] = kept
        history[t, 1] = removed
    return len(history)
