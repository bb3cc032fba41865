"""Exact k-nearest-neighbour graph for the sample graph of paper eq. 4 (numba-compiled selection).

Yang et al., CVPR 2016 (arXiv:1604.03628), eq. 4 needs each sample's K_s nearest neighbours.
Candidates come from blocks of float32 inner products, ‖x_i‖² + ‖x_j‖² − 2⟨x_i, x_j⟩ (one
single-threaded BLAS product per pair of blocks, as FAISS computes them); only the upper
triangle of blocks is computed, an off-diagonal block updating the lists of its rows and of its
columns. Each list keeps the k + EXTRA smallest (distance, sample index) pairs, so ties go to
the lower index and the result does not depend on the order in which blocks are visited; the
final k are then chosen on distances recomputed in float64, so near-ties that float32 rounding
would swap are ordered correctly.

For speed only, samples are visited grouped by a few k-means steps and the diagonal blocks come
first: every list then starts close to its final state, and later candidates are mostly rejected
by one vectorised comparison per chunk. Blocks run on a thread per core in rounds of disjoint
block pairs (round-robin pairing), so no two threads touch the same list. Extra memory is one
block of products per thread and the N×(k + EXTRA) lists.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse
from numba import njit
from threadpoolctl import threadpool_limits

BLOCK = 512
"""Rows (and columns) of one block of inner products (1 MiB of float32, within a core's L2 cache)."""
CHUNK = 128
"""Candidates screened at once against a list's current worst distance before any insertion."""
GROUP = 256
"""Samples per k-means group of the visiting order."""
EXTRA = 2
"""Candidates kept beyond k for the float64 re-ranking."""


def knn_squared_distances(features: np.ndarray, k: int) -> scipy.sparse.csr_matrix:
    """Squared Euclidean distances to the ``k`` nearest neighbours of every row (itself excluded).

    Returns:
        N×N float32 CSR matrix with exactly ``k`` entries per row, column indices sorted.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    n = len(features)
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and {n - 1}, got {k}")
    width = min(k + EXTRA, n - 1)
    with threadpool_limits(limits=1, user_api="blas"):
        order = locality_order(features)
        x = features[order]
        norms = np.einsum("ij,ij->i", x, x)
        dist = np.full((n, width), np.inf, dtype=np.float32)
        index = np.full((n, width), n, dtype=np.int64)

        def visit(pair: tuple[int, int]) -> None:
            first_row, first_col = pair[0] * BLOCK, pair[1] * BLOCK
            products = x[first_row:first_row + BLOCK] @ x[first_col:first_col + BLOCK].T
            _update_block(products, norms, order, first_row, first_col, dist, index)

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=cores) as pool:
            for pairs in block_rounds(-(-n // BLOCK)):
                list(pool.map(visit, pairs))
    rows = np.empty_like(order)
    rows[order] = np.arange(n)
    squared, neighbours = _rerank(features, index[rows], k)
    columns = np.argsort(neighbours, axis=1)
    return scipy.sparse.csr_matrix((np.take_along_axis(squared, columns, axis=1).ravel(),
                                    np.take_along_axis(neighbours, columns, axis=1).ravel(),
                                    np.arange(0, n * k + 1, k)), shape=(n, n))


def locality_order(features: np.ndarray, steps: int = 5) -> np.ndarray:
    """A permutation listing the samples group by group, groups from a few Lloyd steps of k-means
    (N/GROUP centres drawn with a fixed seed), so that nearby samples share blocks."""
    n = len(features)
    centres = features[np.random.default_rng(0).choice(n, max(1, n // GROUP), replace=False)]
    labels = np.empty(n, dtype=np.int64)
    for _ in range(steps):
        offsets = 0.5 * np.einsum("ij,ij->i", centres, centres)
        for first in range(0, n, BLOCK):   # nearest centre, BLOCK rows at a time (memory O(N))
            labels[first:first + BLOCK] = (features[first:first + BLOCK] @ centres.T - offsets).argmax(axis=1)
        counts = np.bincount(labels, minlength=len(centres))
        sums = scipy.sparse.csr_matrix((np.ones(n, np.float32), (labels, np.arange(n))), shape=(len(centres), n))
        sums = sums @ features
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return np.argsort(labels, kind="stable")


def block_rounds(blocks: int) -> list[list[tuple[int, int]]]:
    """Every pair of blocks (I ≤ J) once, in rounds whose pairs share no block: first all diagonal
    pairs, then the circle method's rounds of the off-diagonal ones."""
    rounds = [[(i, i) for i in range(blocks)]]
    teams = list(range(blocks)) + ([-1] if blocks % 2 else [])
    for _ in range(len(teams) - 1):
        half = len(teams) // 2
        rounds.append([(min(a, b), max(a, b)) for a, b in zip(teams[:half], teams[::-1][:half]) if min(a, b) >= 0])
        teams = [teams[0], teams[-1], *teams[1:-1]]
    return [pairs for pairs in rounds if pairs]


@njit(cache=True, nogil=True)
def _rerank(features: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest of each row's candidates by squared distance computed in float64 (ties: lower index)."""
    n, width = candidates.shape
    squared = np.empty((n, width), dtype=np.float64)
    chosen = candidates.copy()
    for i in range(n):
        for c in range(width):
            j = candidates[i, c]
            total = 0.0
            for f in range(features.shape[1]):
                gap = np.float64(features[i, f]) - np.float64(features[j, f])
                total += gap * gap
            squared[i, c] = total
        _insert_all(squared[i], chosen[i])
    return squared[:, :k].astype(np.float32), chosen[:, :k]


@njit(cache=True, nogil=True)
def _insert_all(value: np.ndarray, index: np.ndarray) -> None:
    """Sort the pairs (value, index) ascending in place (insertion sort: a handful of entries)."""
    for c in range(1, len(value)):
        v, j = value[c], index[c]
        p = c
        while p > 0 and (value[p - 1] > v or (value[p - 1] == v and index[p - 1] > j)):
            value[p] = value[p - 1]
            index[p] = index[p - 1]
            p -= 1
        value[p] = v
        index[p] = j


@njit(cache=True, nogil=True)
def _insert(dist: np.ndarray, index: np.ndarray, i: int, d: float, j: int) -> None:
    """Put (d, j) into row ``i``'s ascending list if it beats the last entry."""
    p = dist.shape[1] - 1
    if d > dist[i, p] or (d == dist[i, p] and j >= index[i, p]):
        return
    while p > 0 and (dist[i, p - 1] > d or (dist[i, p - 1] == d and index[i, p - 1] > j)):
        dist[i, p] = dist[i, p - 1]
        index[i, p] = index[i, p - 1]
        p -= 1
    dist[i, p] = d
    index[i, p] = j


@njit(cache=True, nogil=True)
def _update_block(products: np.ndarray, norms: np.ndarray, order: np.ndarray, first_row: int, first_col: int,
                  dist: np.ndarray, index: np.ndarray) -> None:
    """Offer each pair of the block to its row's list and, off the diagonal, to its column's list.

    Rows and columns are positions in ``order``; lists store sample indices. Chunks of CHUNK
    candidates are first screened with one vectorised comparison against the lists' current worst.
    """
    two, zero = np.float32(2.0), np.float32(0.0)
    last = dist.shape[1] - 1
    columns = products.shape[1]
    others = norms[first_col:first_col + columns]
    screen = np.full(columns, -np.inf, dtype=np.float32)   # the column lists' worst; −inf: rows only
    if first_col != first_row:
        for t in range(columns):
            screen[t] = dist[first_col + t, last]
    for a in range(products.shape[0]):
        i = first_row + a
        norm = norms[i]
        worst = dist[i, last]
        row = products[a]
        for lo in range(0, columns, CHUNK):
            hi = min(columns, lo + CHUNK)
            hits = 0
            for u in range(np.uint64(lo), np.uint64(hi)):   # unsigned: no negative-index fix-up, vectorises
                d = norm + others[u] - two * row[u]
                hits += (d <= worst) | (d <= screen[u])
            if hits == 0:
                continue
            for t in range(lo, hi):
                d = norm + others[t] - two * row[t]
                j = first_col + t
                if d <= worst and j != i:
                    _insert(dist, index, i, max(d, zero), order[j])
                    worst = dist[i, last]
                if d <= screen[t]:
                    _insert(dist, index, j, max(d, zero), order[i])
                    screen[t] = dist[j, last]
