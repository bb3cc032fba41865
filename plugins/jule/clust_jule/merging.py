"""Agglomerative merging over a fixed sample graph with per-cluster neighbour lists.

The state holds, for every live cluster x, two sparse rows: ``out[x][i] = U(x, i)``
and ``inc[x][i] = U(i, x)`` (see :mod:`.affinity`), so memory is O(N·K_s) and a merge
touches only the neighbours of the two clusters. Each cluster keeps its K_c best
neighbours; a heap over clusters gives the argmax of eq. 7 without re-sorting an
n_c×n_c matrix.
"""
from __future__ import annotations

import heapq

import numpy as np
import scipy.sparse

from .affinity import unnormalised_affinity
from .criterion import merge_score, top_neighbours
from .update import add_rows, cross_terms


class ClusterGraph:
    """Clusters over a directed sample graph W, merged one pair at a time.

    Args:
        weights: N×N sparse W (eq. 4).
        labels: Initial cluster of each sample, 0..n_c−1.
        features: N×D features (cluster means for the isolated-cluster fallback).
        k_c, lam: Merge criterion (eq. 7; Table 2: 5, 1.0).
        update: "exact" (appendix eq. 14, the paper's choice) or "fast" (eq. 21).
        alpha: α of eq. 21 (appendix A.2; 0 is the Torch code's ``-use_fast 1``).
    """

    def __init__(self, weights: scipy.sparse.csr_matrix, labels: np.ndarray, features: np.ndarray, *,
                 k_c: int = 5, lam: float = 1.0, update: str = "exact", alpha: float = 0.0) -> None:
        if update not in ("exact", "fast"):
            raise ValueError(f"update must be 'exact' or 'fast', got {update!r}")
        self.w, self.wt = weights.tocsr(), weights.T.tocsr()
        self.k_c, self.lam, self.update, self.alpha = k_c, lam, update, alpha
        self.labels = np.asarray(labels, dtype=np.int64).copy()
        n_c = int(self.labels.max()) + 1
        order = np.argsort(self.labels, kind="stable")
        bounds = np.searchsorted(self.labels[order], np.arange(n_c + 1))
        self.members = [order[bounds[c]:bounds[c + 1]] for c in range(n_c)]
        self.sizes = np.diff(bounds).astype(np.float64)
        self.sums = np.zeros((n_c, features.shape[1]))
        np.add.at(self.sums, self.labels, features)
        self.out: list[dict[int, float] | None] = [{} for _ in range(n_c)]
        self.inc: list[dict[int, float] | None] = [{} for _ in range(n_c)]
        u = unnormalised_affinity(self.w, self.labels, n_c).tocoo()
        for x, i, value in zip(u.row.tolist(), u.col.tolist(), u.data.tolist()):
            if x != i and value > 0:
                self.out[x][i] = value
                self.inc[i][x] = value
        self.alive = set(range(n_c))
        self.top: list[list[tuple[int, float]]] = [[] for _ in range(n_c)]
        self.version = [0] * n_c
        self.heap: list[tuple[float, int, int]] = []
        for x in range(n_c):
            self._refresh(x)

    @property
    def n_clusters(self) -> int:
        return len(self.alive)

    def affinities(self, x: int) -> dict[int, float]:
        """Eq. 12 affinity of cluster ``x`` to each neighbour: U(x, j)/|C_x|² + U(j, x)/|C_j|²."""
        inv = 1.0 / self.sizes[x] ** 2
        result = {j: u * inv for j, u in self.out[x].items()}
        for j, u in self.inc[x].items():
            result[j] = result.get(j, 0.0) + u / self.sizes[j] ** 2
        return result

    def _refresh(self, x: int) -> None:
        self.top[x] = top_neighbours(self.affinities(x), self.k_c)
        self.version[x] += 1
        score = merge_score([a for _, a in self.top[x]], self.k_c, self.lam)
        heapq.heappush(self.heap, (-score, x, self.version[x]))

    def best(self) -> tuple[int, float]:
        """The cluster whose merge with its nearest neighbour minimises eq. 7, and its score."""
        while True:
            neg, x, version = self.heap[0]
            if x in self.alive and version == self.version[x]:
                return x, -neg
            heapq.heappop(self.heap)

    def step(self) -> tuple[int, int]:
        """Merge the best cluster with its nearest neighbour (eq. 7), or, if no cluster has a
        positive affinity left, the best one with the cluster of nearest mean. Returns (kept, removed)."""
        x, score = self.best()
        y = self.top[x][0][0] if self.top[x] and score > 0 else self.nearest_mean(x)
        return self.merge(x, y)

    def nearest_mean(self, x: int) -> int:
        """The live cluster whose feature mean is closest to that of ``x``."""
        others = np.fromiter((c for c in self.alive if c != x), dtype=np.int64)
        means = self.sums[others] / self.sizes[others, None]
        gaps = ((means - self.sums[x] / self.sizes[x]) ** 2).sum(axis=1)
        return int(others[gaps.argmin()])

    def isolated(self) -> list[int]:
        """Live clusters with zero affinity to every other cluster."""
        return sorted(x for x in self.alive if not self.out[x] and not self.inc[x])

    def merge(self, a: int, b: int) -> tuple[int, int]:
        """Merge clusters ``a`` and ``b`` (the smaller into the larger); update U by eqs. 13-14 (or 21)."""
        if self.sizes[b] > self.sizes[a]:
            a, b = b, a
        cross = self._cross(a, b)
        new_out = add_rows(self.out[a], self.out[b], cross, drop=(a, b))   # eq. 14 (exact) / eq. 21 (fast)
        new_inc = add_rows(self.inc[a], self.inc[b], {}, drop=(a, b))      # eq. 13
        for i in set(self.out[b]) | set(self.inc[b]) | set(self.out[a]) | set(self.inc[a]) | set(new_out):
            if i in (a, b):
                continue
            self.inc[i].pop(b, None)
            self.out[i].pop(b, None)
            self.inc[i].pop(a, None)
            self.out[i].pop(a, None)
            if i in new_out:
                self.inc[i][a] = new_out[i]
            if i in new_inc:
                self.out[i][a] = new_inc[i]
        self.out[a], self.inc[a] = new_out, new_inc
        self.out[b] = self.inc[b] = None
        self.labels[self.members[b]] = a
        self.members[a] = np.concatenate([self.members[a], self.members[b]])
        self.members[b] = np.empty(0, dtype=np.int64)
        self.sizes[a] += self.sizes[b]
        self.sums[a] += self.sums[b]
        self.alive.discard(b)
        self._refresh(a)
        for i in set(new_out) | set(new_inc):
            self._renew(i, a, b)
        return a, b

    def _cross(self, a: int, b: int) -> dict[int, float]:
        """Cross terms of eq. 14 for every cluster i: exact, or α(U(a, i) + U(b, i)) (eq. 21)."""
        if self.update == "fast":
            keys = set(self.out[a]) | set(self.out[b])
            return {i: self.alpha * (self.out[a].get(i, 0.0) + self.out[b].get(i, 0.0)) for i in keys}
        return cross_terms(self.w, self.wt, self.labels, self.members[a], self.members[b])

    def _renew(self, i: int, a: int, b: int) -> None:
        """Refresh cluster ``i``'s neighbour list only if the merge of ``b`` into ``a`` can change it."""
        top = self.top[i]
        listed = {j for j, _ in top}
        if a in listed or b in listed or len(top) < self.k_c:
            self._refresh(i)
            return
        value = self.out[i].get(a, 0.0) / self.sizes[i] ** 2 + self.inc[i].get(a, 0.0) / self.sizes[a] ** 2
        if value >= top[-1][1]:
            self._refresh(i)

    def compact_labels(self) -> np.ndarray:
        """Current labels renumbered 0..n_c−1 in order of first appearance of each cluster index."""
        _, compact = np.unique(self.labels, return_inverse=True)
        return compact.astype(np.int64)

