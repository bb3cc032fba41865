"""Nearest neighbours and kNN graphs, on FAISS with a chunked torch fallback.

FAISS is optional: without it, exact search runs in chunked torch. A FAISS GPU index is used whenever FAISS has GPU support and
CUDA is available.
"""

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse
import torch

try:  # torch must be imported first: both ship an OpenMP runtime
    import faiss
except ImportError:
    faiss = None

from .errors import ClustError

GPU_MAX_K = 2048
"""Largest k a FAISS GPU index can search; larger searches run on the CPU."""
SCORE_BUDGET_BYTES = 256 * 2**20
"""Memory for one chunk's float32 query × database score matrix when ``chunk_size`` is None."""


def faiss_gpu_available() -> bool:
    """Tell whether FAISS can search on a GPU in this process."""
    return (
        faiss is not None
        and hasattr(faiss, "StandardGpuResources")
        and faiss.get_num_gpus() > 0
        and torch.cuda.is_available()
    )


def _as_matrix(values: Any, name: str) -> np.ndarray | torch.Tensor:
    """Return ``values`` as a contiguous float32 2-D array, keeping torch tensors in torch."""
    if isinstance(values, torch.Tensor):
        matrix = values.detach().to(torch.float32).contiguous()
    else:
        matrix = np.ascontiguousarray(values, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ClustError(f"{name} must be a non-empty 2-D (N, D) matrix, got shape {tuple(matrix.shape)}")
    return matrix


def _to_numpy(matrix: np.ndarray | torch.Tensor) -> np.ndarray:
    """Return a matrix from :func:`_as_matrix` as a contiguous float32 numpy array on the CPU."""
    if isinstance(matrix, torch.Tensor):
        return np.ascontiguousarray(matrix.cpu().numpy())
    return matrix


def _prepare(
    queries: Any, database: Any, k: int, metric: str, exclude_self: bool, chunk_size: int | None
) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor, int]:
    """Validate a search request and return (queries, database, k to search)."""
    if metric not in ("ip", "l2"):
        raise ClustError(f"unknown metric {metric!r}; choose 'ip' or 'l2'")
    if chunk_size is not None and chunk_size < 1:
        raise ClustError(f"chunk_size must be positive, got {chunk_size}")
    if exclude_self and database is not None:
        raise ClustError("exclude_self only applies when searching queries against themselves (database=None)")
    queries = _as_matrix(queries, "queries")
    database = queries if database is None else _as_matrix(database, "database")
    if database.shape[1] != queries.shape[1]:
        raise ClustError(f"queries have {queries.shape[1]} dimensions but the database has {database.shape[1]}")
    available = database.shape[0] - int(exclude_self)
    if not 1 <= k <= available:
        raise ClustError(f"k={k} must be between 1 and {available} for a database of {database.shape[0]} points")
    return queries, database, k + int(exclude_self)


def _drop_self(scores: np.ndarray, indices: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own index from its k+1 results, or its last result if absent."""
    rows, width = indices.shape
    own = indices == np.arange(first, first + rows)[:, None]
    position = np.where(own.any(axis=1), own.argmax(axis=1), width - 1)
    keep = np.ones_like(own)
    keep[np.arange(rows), position] = False
    return scores[keep].reshape(rows, width - 1), indices[keep].reshape(rows, width - 1)


def _search_in_chunks(
    search: Callable[[Any], tuple[np.ndarray, np.ndarray]], queries: Any, exclude_self: bool, chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``search`` on ``chunk_size`` queries at a time and stack the (scores, indices)."""
    scores, indices = [], []
    for first in range(0, queries.shape[0], chunk_size):
        part = search(queries[first : first + chunk_size])
        part_scores, part_indices = _drop_self(*part, first) if exclude_self else part
        scores.append(part_scores)
        indices.append(part_indices)
    return np.concatenate(scores).astype(np.float32), np.concatenate(indices).astype(np.int64)


def knn_torch(
    queries: Any,
    database: Any = None,
    k: int = 10,
    metric: str = "ip",
    *,
    exclude_self: bool = False,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-nearest-neighbour search in torch, on the queries' device.

    Arguments and results are those of :func:`knn`. Extra memory is one
    ``chunk_size`` x N_db score matrix at a time (at most
    :data:`SCORE_BUDGET_BYTES` when ``chunk_size`` is None).
    """
    queries, database, width = _prepare(queries, database, k, metric, exclude_self, chunk_size)
    device = queries.device if isinstance(queries, torch.Tensor) else torch.device("cpu")
    query_t = torch.as_tensor(queries, device=device)
    base_t = torch.as_tensor(database, device=device)
    base_norms = (base_t * base_t).sum(dim=1)

    def search(chunk: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        products = chunk @ base_t.T
        if metric == "ip":
            top = torch.topk(products, width, dim=1, largest=True)
        else:
            squared = ((chunk * chunk).sum(dim=1, keepdim=True) - 2 * products + base_norms).clamp_min_(0)
            top = torch.topk(squared, width, dim=1, largest=False)
        return top.values.cpu().numpy(), top.indices.cpu().numpy()

    return _search_in_chunks(search, query_t, exclude_self, _chunk_rows(chunk_size, base_t.shape[0]))


def _chunk_rows(chunk_size: int | None, n_database: int) -> int:
    """Queries per chunk: as given, or as many as keep one score matrix within the budget."""
    if chunk_size is not None:
        return chunk_size
    return int(min(4096, max(1, SCORE_BUDGET_BYTES // (4 * n_database))))


def _knn_faiss(
    queries: np.ndarray, database: np.ndarray, width: int, metric: str, exclude_self: bool, chunk_size: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact search with a flat FAISS index (GPU when possible), ``width`` results per query."""
    index = faiss.IndexFlatIP(database.shape[1]) if metric == "ip" else faiss.IndexFlatL2(database.shape[1])
    if faiss_gpu_available() and width <= GPU_MAX_K:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(database)
    rows = _chunk_rows(chunk_size, database.shape[0])
    return _search_in_chunks(lambda chunk: index.search(chunk, width), queries, exclude_self, rows)


def knn(
    queries: Any,
    database: Any = None,
    k: int = 10,
    metric: str = "ip",
    *,
    exclude_self: bool = False,
    backend: str = "auto",
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-nearest-neighbour search.

    Args:
        queries: (N, D) features, numpy or torch on any device.
        database: (M, D) features to search; None searches the queries themselves.
        k: Neighbours per query.
        metric: "ip" (inner product, largest first; cosine for L2-normalised
            inputs) or "l2" (squared Euclidean distance, smallest first).
        exclude_self: With ``database=None``, drop each point from its own list.
        backend: "auto" (FAISS if installed, else torch), "faiss" or "torch".
        chunk_size: Queries searched at a time; None keeps one score matrix within SCORE_BUDGET_BYTES.

    Returns:
        (scores or squared distances as float32 (N, k), indices as int64 (N, k)).

    Raises:
        ClustError: On a bad metric, backend, shape or k.
    """
    if backend not in ("auto", "faiss", "torch"):
        raise ClustError(f"unknown knn backend {backend!r}; choose 'auto', 'faiss' or 'torch'")
    if backend == "faiss" and faiss is None:
        raise ClustError("knn backend 'faiss' requested but faiss is not installed")
    if backend == "torch" or faiss is None:
        if backend == "auto":
            warnings.warn("faiss is not installed; using exact torch search, which is slower", stacklevel=2)
        return knn_torch(queries, database, k, metric, exclude_self=exclude_self, chunk_size=chunk_size)
    queries, database, width = _prepare(queries, database, k, metric, exclude_self, chunk_size)
    return _knn_faiss(_to_numpy(queries), _to_numpy(database), width, metric, exclude_self, chunk_size)


def mean_knn_sigma2(distances: np.ndarray) -> float:
    """JULE's Gaussian bandwidth: the mean squared distance to the k nearest neighbours.

    Raises:
        ClustError: If every distance is zero (all points coincide).
    """
    sigma2 = float(np.mean(distances))
    if not sigma2 > 0:
        raise ClustError("cannot derive a Gaussian bandwidth: all kNN distances are zero")
    return sigma2


def knn_graph(
    features: Any,
    k: int,
    metric: str = "l2",
    *,
    weight: str = "distance",
    sigma2: float | None = None,
    backend: str = "auto",
) -> scipy.sparse.csr_matrix:
    """Directed kNN graph: row i holds the k nearest neighbours of point i, itself excluded.

    Args:
        features: (N, D) features.
        k: Neighbours per point.
        metric: "l2" or "ip" (see :func:`knn`).
        weight: "distance" stores the squared distance (or the ip score);
            "gaussian" stores exp(-d² / sigma2) and needs metric "l2".
        sigma2: Gaussian bandwidth; defaults to :func:`mean_knn_sigma2`.
        backend: Search backend (see :func:`knn`).

    Returns:
        An (N, N) float32 CSR matrix with exactly k stored entries per row.

    Raises:
        ClustError: On a bad weight, metric or bandwidth.
    """
    if weight not in ("distance", "gaussian"):
        raise ClustError(f"unknown knn_graph weight {weight!r}; choose 'distance' or 'gaussian'")
    if weight == "gaussian" and metric != "l2":
        raise ClustError("gaussian kNN weights need metric 'l2'")
    if sigma2 is not None and not sigma2 > 0:
        raise ClustError(f"sigma2 must be positive, got {sigma2}")
    values, indices = knn(features, None, k, metric, exclude_self=True, backend=backend)
    if weight == "gaussian":
        bandwidth = mean_knn_sigma2(values) if sigma2 is None else sigma2
        values = np.exp(-values / bandwidth).astype(np.float32)
    n = indices.shape[0]
    graph = scipy.sparse.csr_matrix((values.ravel(), indices.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    graph.sort_indices()
    return graph
