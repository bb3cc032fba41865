"""Per-cluster sparse rows of the unnormalised affinity U in one preallocated pool (numba-compiled).

Row x lists every cluster j with U(x, j) > 0 or U(j, x) > 0 (see :mod:`.affinity`, appendix
eq. 12 of Yang et al., CVPR 2016, arXiv:1604.03628) with both values, so the pair is stored
twice, once in each row. Rows are segments of three flat arrays (CSR-like, unordered within a
row). A row that outgrows its segment moves to the end of the pool; when the end is reached,
the live rows are packed to the front.

Two clusters can only be neighbours if W has an edge between them, and merging never adds
such a pair, so the number of stored entries never exceeds twice the number of initially
edge-adjacent cluster pairs: a pool of twice that bound always fits after packing, and
memory stays O(N·K_s).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse
from numba import njit

from .sorting import heapsort


class Rows(NamedTuple):
    """Row x is ``neighbour/out/inc[start[x]:start[x] + length[x]]`` in a segment of ``capacity[x]`` slots."""

    start: np.ndarray       # int64[n_c]
    length: np.ndarray      # int64[n_c]
    capacity: np.ndarray    # int64[n_c]
    neighbour: np.ndarray   # int64[pool]: j
    out: np.ndarray         # float64[pool]: U(x, j)
    inc: np.ndarray         # float64[pool]: U(j, x)
    end: np.ndarray         # int64[1]: first free slot of the pool
    order: np.ndarray       # int64[n_c]: scratch for packing


def build_rows(unnormalised: scipy.sparse.csr_matrix, weights: scipy.sparse.csr_matrix,
               labels: np.ndarray) -> Rows:
    """Rows of the off-diagonal positive entries of U (n_c×n_c), in a pool sized by the edge-adjacency bound."""
    n_c = unnormalised.shape[0]
    one_hot = scipy.sparse.csr_matrix((np.ones(len(labels)), (labels, np.arange(len(labels)))),
                                      shape=(n_c, len(labels)))
    adjacent = one_hot @ (weights != 0).astype(np.float64) @ one_hot.T
    adjacent = adjacent + adjacent.T
    bound = adjacent.nnz - int((adjacent.diagonal() != 0).sum())   # ordered edge-adjacent pairs
    u = unnormalised.tocsr()
    u.sort_indices()
    ut = u.T.tocsr()
    ut.sort_indices()
    size = 2 * bound + 1
    rows = Rows(np.zeros(n_c, np.int64), np.zeros(n_c, np.int64), np.zeros(n_c, np.int64),
                np.zeros(size, np.int64), np.zeros(size), np.zeros(size), np.zeros(1, np.int64),
                np.zeros(n_c, np.int64))
    _fill(rows, u.indptr.astype(np.int64), u.indices.astype(np.int64), u.data.astype(np.float64),
          ut.indptr.astype(np.int64), ut.indices.astype(np.int64), ut.data.astype(np.float64))
    return rows


@njit(cache=True)
def _fill(rows: Rows, u_ptr: np.ndarray, u_idx: np.ndarray, u_val: np.ndarray,
          t_ptr: np.ndarray, t_idx: np.ndarray, t_val: np.ndarray) -> None:
    """Merge each row of U (out) with the same row of Uᵀ (inc), both with sorted indices."""
    position = 0
    for x in range(len(rows.start)):
        rows.start[x] = position
        p, q = u_ptr[x], t_ptr[x]
        while p < u_ptr[x + 1] or q < t_ptr[x + 1]:
            j_out = u_idx[p] if p < u_ptr[x + 1] else -1
            j_in = t_idx[q] if q < t_ptr[x + 1] else -1
            if j_in == -1 or (j_out != -1 and j_out < j_in):
                j, out, inc = j_out, u_val[p], 0.0
                p += 1
            elif j_out == -1 or j_in < j_out:
                j, out, inc = j_in, 0.0, t_val[q]
                q += 1
            else:
                j, out, inc = j_out, u_val[p], t_val[q]
                p += 1
                q += 1
            out = out if out > 0 else 0.0
            inc = inc if inc > 0 else 0.0
            if j != x and (out > 0 or inc > 0):
                rows.neighbour[position] = j
                rows.out[position] = out
                rows.inc[position] = inc
                position += 1
        rows.length[x] = position - rows.start[x]
        rows.capacity[x] = rows.length[x]
    rows.end[0] = position


@njit(cache=True)
def release(rows: Rows, x: int) -> None:
    """Empty row ``x`` and give its segment back to the pool (reclaimed at the next packing)."""
    rows.length[x] = 0
    rows.capacity[x] = 0


@njit(cache=True)
def pack(rows: Rows) -> None:
    """Move every row with a segment to the front of the pool, in pool order, segments trimmed to their length."""
    n_c = len(rows.start)
    count = 0
    for x in range(n_c):
        if rows.capacity[x] > 0:
            rows.order[count] = rows.start[x] * n_c + x
            count += 1
    heapsort(rows.order[:count])
    position = 0
    for t in range(count):
        x = rows.order[t] % n_c
        source = rows.start[x]
        for k in range(rows.length[x]):
            rows.neighbour[position + k] = rows.neighbour[source + k]
            rows.out[position + k] = rows.out[source + k]
            rows.inc[position + k] = rows.inc[source + k]
        rows.start[x] = position
        rows.capacity[x] = rows.length[x]
        position += rows.length[x]
    rows.end[0] = position


@njit(cache=True)
def reserve(rows: Rows, x: int, size: int) -> None:
    """Give row ``x`` a segment of at least ``size`` slots at the end of the pool, keeping its entries."""
    wanted = max(size, 2 * rows.length[x])
    if rows.end[0] + wanted > len(rows.neighbour):
        pack(rows)
        wanted = size if rows.end[0] + wanted > len(rows.neighbour) else wanted
    source, target = rows.start[x], rows.end[0]
    for k in range(rows.length[x]):
        rows.neighbour[target + k] = rows.neighbour[source + k]
        rows.out[target + k] = rows.out[source + k]
        rows.inc[target + k] = rows.inc[source + k]
    rows.start[x] = target
    rows.capacity[x] = wanted
    rows.end[0] = target + wanted


@njit(cache=True)
def write_row(rows: Rows, x: int, keys: np.ndarray, out: np.ndarray, inc: np.ndarray) -> None:
    """Fill the released row ``x`` with the neighbours ``keys``, U(x, j) = ``out[j]``, U(j, x) = ``inc[j]``."""
    reserve(rows, x, len(keys))
    neighbour, row_out, row_inc = rows.neighbour, rows.out, rows.inc
    start = rows.start[x]
    for t in range(len(keys)):
        j = keys[t]
        neighbour[start + t], row_out[start + t], row_inc[start + t] = j, out[j], inc[j]
    rows.length[x] = len(keys)


@njit(cache=True)
def contract(rows: Rows, keys: np.ndarray, a: int, b: int, out: np.ndarray, inc: np.ndarray) -> None:
    """In the row of each cluster j in ``keys`` (neither a nor b), replace the entries of ``a`` and ``b`` by one
    entry for their union, kept as ``a``, with U(j, a) = ``out[j]`` and U(a, j) = ``inc[j]`` (none if both are 0)."""
    start, length, neighbour, row_out, row_inc = rows.start, rows.length, rows.neighbour, rows.out, rows.inc
    for j in keys:
        pa = pb = -1
        for p in range(start[j], start[j] + length[j]):
            if neighbour[p] == a:
                pa = p
            elif neighbour[p] == b:
                pb = p
        if out[j] > 0 or inc[j] > 0:
            if pa < 0 and pb < 0:
                if length[j] == rows.capacity[j]:
                    reserve(rows, j, length[j] + 1)
                pa = start[j] + length[j]
                length[j] += 1
            elif pa < 0:
                pa, pb = pb, -1
            neighbour[pa], row_out[pa], row_inc[pa] = a, out[j], inc[j]
            pa = -1
        for p in (max(pa, pb), min(pa, pb)):   # delete: the row's last entry takes the freed place
            if p >= 0:
                last = start[j] + length[j] - 1
                neighbour[p], row_out[p], row_inc[p] = neighbour[last], row_out[last], row_inc[last]
                length[j] -= 1
