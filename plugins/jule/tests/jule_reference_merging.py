"""Test oracle: the original pure-Python merge loop (dict rows, lazy heap), kept only to check that the
compiled :class:`clust_jule.merging.ClusterGraph` makes exactly the same merges.

Yang et al., CVPR 2016 (arXiv:1604.03628): eq. 7 criterion, eq. 12 affinity, appendix eqs. 13-14
(exact update) and eq. 21 (fast update). Same API subset as the compiled graph:
``step``, ``merge``, ``best``, ``isolated``, ``nearest_mean``, ``labels``.
"""
from __future__ import annotations

import heapq

import numpy as np
import scipy.sparse

from clust_jule.affinity import unnormalised_affinity


def merge_score(top, k_c, lam):
    if not top:
        return 0.0
    first = top[0]
    if k_c < 2:
        return first
    values = list(top[:k_c]) + [0.0] * (k_c - min(len(top), k_c))
    return first + lam / (k_c - 1) * sum(first - value for value in values[1:])


def degree_vector(matrix, rows):
    sub = matrix[rows]
    nodes, inverse = np.unique(sub.indices, return_inverse=True)
    return nodes, np.bincount(inverse, weights=sub.data, minlength=len(nodes))


def product_by_cluster(first, second, labels):
    common, i1, i2 = np.intersect1d(first[0], second[0], assume_unique=True, return_indices=True)
    clusters, inverse = np.unique(labels[common], return_inverse=True)
    return clusters, np.bincount(inverse, weights=first[1][i1] * second[1][i2], minlength=len(clusters))


def cross_terms(weights, transposed, labels, members_m, members_n):
    in_m, in_n = degree_vector(weights, members_m), degree_vector(weights, members_n)
    out_m, out_n = degree_vector(transposed, members_m), degree_vector(transposed, members_n)
    result = {}
    for clusters, values in (product_by_cluster(in_m, out_n, labels), product_by_cluster(in_n, out_m, labels)):
        for c, v in zip(clusters.tolist(), values.tolist()):
            result[c] = result.get(c, 0.0) + v
    return result


def add_rows(first, second, third, drop):
    out = dict(first)
    for row in (second, third):
        for key, value in row.items():
            out[key] = out.get(key, 0.0) + value
    return {k: v for k, v in out.items() if k not in drop and v > 0}


class ReferenceClusterGraph:
    def __init__(self, weights: scipy.sparse.csr_matrix, labels: np.ndarray, features: np.ndarray, *,
                 k_c: int = 5, lam: float = 1.0, update: str = "exact", alpha: float = 0.0) -> None:
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
        self.out = [{} for _ in range(n_c)]
        self.inc = [{} for _ in range(n_c)]
        u = unnormalised_affinity(self.w, self.labels, n_c).tocoo()
        for x, i, value in zip(u.row.tolist(), u.col.tolist(), u.data.tolist()):
            if x != i and value > 0:
                self.out[x][i] = value
                self.inc[i][x] = value
        self.alive = set(range(n_c))
        self.top = [[] for _ in range(n_c)]
        self.version = [0] * n_c
        self.heap = []
        for x in range(n_c):
            self._refresh(x)

    def affinities(self, x):
        inv = 1.0 / self.sizes[x] ** 2
        result = {j: u * inv for j, u in self.out[x].items()}
        for j, u in self.inc[x].items():
            result[j] = result.get(j, 0.0) + u / self.sizes[j] ** 2
        return result

    def _refresh(self, x):
        self.top[x] = heapq.nsmallest(max(self.k_c, 1), self.affinities(x).items(),
                                      key=lambda item: (-item[1], item[0]))
        self.version[x] += 1
        score = merge_score([a for _, a in self.top[x]], self.k_c, self.lam)
        heapq.heappush(self.heap, (-score, x, self.version[x]))

    def best(self):
        while True:
            neg, x, version = self.heap[0]
            if x in self.alive and version == self.version[x]:
                return x, -neg
            heapq.heappop(self.heap)

    def step(self):
        x, score = self.best()
        y = self.top[x][0][0] if self.top[x] and score > 0 else self.nearest_mean(x)
        return self.merge(x, y)

    def nearest_mean(self, x):
        others = np.fromiter((c for c in self.alive if c != x), dtype=np.int64)
        means = self.sums[others] / self.sizes[others, None]
        gaps = ((means - self.sums[x] / self.sizes[x]) ** 2).sum(axis=1)
        return int(others[gaps.argmin()])

    def isolated(self):
        return sorted(x for x in self.alive if not self.out[x] and not self.inc[x])

    def merge(self, a, b):
        if self.sizes[b] > self.sizes[a]:
            a, b = b, a
        if self.update == "fast":
            keys = set(self.out[a]) | set(self.out[b])
            cross = {i: self.alpha * (self.out[a].get(i, 0.0) + self.out[b].get(i, 0.0)) for i in keys}
        else:
            cross = cross_terms(self.w, self.wt, self.labels, self.members[a], self.members[b])
        new_out = add_rows(self.out[a], self.out[b], cross, drop=(a, b))
        new_inc = add_rows(self.inc[a], self.inc[b], {}, drop=(a, b))
        for i in set(self.out[b]) | set(self.inc[b]) | set(self.out[a]) | set(self.inc[a]) | set(new_out):
            if i in (a, b):
                continue
            for row in (self.inc[i], self.out[i]):
                row.pop(b, None)
                row.pop(a, None)
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
            top = self.top[i]
            listed = {j for j, _ in top}
            if a in listed or b in listed or len(top) < self.k_c:
                self._refresh(i)
                continue
            value = self.out[i].get(a, 0.0) / self.sizes[i] ** 2 + self.inc[i].get(a, 0.0) / self.sizes[a] ** 2
            if value >= top[-1][1]:
                self._refresh(i)
        return a, b
