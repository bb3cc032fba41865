"""In-place heapsort of int64 arrays for the compiled merge loop.

numba's own ``np.sort``/``np.argsort`` add seconds of compile time to every fresh install for
the few small sorts the loop needs (nodes of an eq. 14 bracket term, rows when the pool is packed).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def heapsort(values: np.ndarray) -> None:
    """Sort ``values`` ascending in place, O(n log n): build a max-heap, then move its top to the end n − 1 times."""
    n = len(values)
    for step in range(n // 2 + n - 1):
        if step < n // 2:               # heap construction: sift down root n/2 − 1 − step over the whole array
            root, end = n // 2 - 1 - step, n
        else:                           # extraction: swap the maximum behind the heap, sift down the new root
            end = n - 1 - (step - n // 2)
            values[0], values[end] = values[end], values[0]
            root = 0
        while 2 * root + 1 < end:
            child = 2 * root + 1
            if child + 1 < end and values[child + 1] > values[child]:
                child += 1
            if values[root] >= values[child]:
                break
            values[root], values[child] = values[child], values[root]
            root = child
