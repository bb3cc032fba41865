"""The directed sample graph of JULE (paper §3.3, eq. 4) and the 1-NN chain initialisation (paper §3.6).

JULE: Yang, Parikh, Batra, CVPR 2016, https://arxiv.org/abs/1604.03628; released Torch code:
https://github.com/jwyang/JULE.torch.

Both come from one exact kNN search: :func:`.knn.knn_squared_distances` on the CPU, FAISS
through :func:`clust_core.neighbors.knn_graph` on a GPU; W is a sparse CSR matrix with K_s
entries per row, so memory is O(N·K_s).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from clust_core.neighbors import faiss_gpu_available, knn_graph

from .knn import knn_squared_distances


def l2_normalize(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (the Torch code renormalises features before the kNN search, ``train.lua``)."""
    features = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def knn_distances(features: np.ndarray, k_s: int) -> scipy.sparse.csr_matrix:
    """Squared Euclidean distances to the ``k_s`` nearest neighbours (self excluded), as a CSR matrix
    (columns sorted; FAISS on a GPU, else the blocked exact search of :mod:`.knn`)."""
    k_s = min(k_s, len(features) - 1)
    if faiss_gpu_available():
        return knn_graph(features, k_s, metric="l2", weight="distance")
    return knn_squared_distances(features, k_s)


def sample_graph(distances: scipy.sparse.csr_matrix, a: float = 1.0) -> scipy.sparse.csr_matrix:
    """Eq. 4: W[i, j] = exp(−‖x_i − x_j‖² / σ²) for j among the K_s neighbours of i, else 0.

    σ² = a/(n_s K_s) Σ_i Σ_{j∈N_i} ‖x_i − x_j‖² (paper §3.3, squared distances as in the paper,
    not the Torch code's plain distances). The graph is directed (not symmetrised).

    Args:
        distances: Output of :func:`knn_distances`.
        a: Bandwidth factor (paper Table 2: 1.0).
    """
    sigma2 = a * float(distances.data.mean())
    if not sigma2 > 0:  # every neighbour coincides: all affinities are 1
        sigma2 = 1.0
    weights = distances.copy()
    weights.data = np.exp(-distances.data / sigma2).astype(np.float64)
    return weights


def nearest_neighbour(distances: scipy.sparse.csr_matrix) -> np.ndarray:
    """Index of each row's nearest (non-self) neighbour."""
    n, width = distances.shape[0], np.diff(distances.indptr)
    assert (width == width[0]).all(), "every row needs the same number of neighbours"
    d = distances.data.reshape(n, width[0])
    cols = distances.indices.reshape(n, width[0])
    return cols[np.arange(n), d.argmin(axis=1)]


def chain_init(distances: scipy.sparse.csr_matrix) -> np.ndarray:
    """Initial clusters: weakly connected components of the 1-NN digraph i → nn(i) (the Torch code's
    ``agg_clustering/agg_clustering.lua`` ``init``; AC-PIC's ``gacNNMerge``, the "initialization of [69]" of
    paper §3.6).

    Every component holds at least two samples, so there are at most N/2 clusters.

    Returns:
        Labels 0..n_c−1 of every sample.
    """
    n = distances.shape[0]
    nn = nearest_neighbour(distances)
    links = scipy.sparse.csr_matrix((np.ones(n), (np.arange(n), nn)), shape=(n, n))
    _, labels = connected_components(links, directed=True, connection="weak")
    return labels.astype(np.int64)
