"""Estimate the number of clusters K of unlabelled data (``clust run --k auto``).

Each criterion scores every candidate K in [2, k_max] and keeps the K of the largest score:

- ``eigengap`` (the default): the eigengap heuristic of spectral clustering (von Luxburg, "A tutorial on
  spectral clustering", Statistics and Computing 17(4), 2007, §8.3): K is where the gap λ_{K+1} − λ_K
  between consecutive eigenvalues (ascending, λ_1 ≈ 0) of the normalised Laplacian
  L = I − D^-1/2 W D^-1/2 is largest. W is the symmetric kNN graph with the self-tuning Gaussian affinities
  of Zelnik-Manor & Perona ("Self-tuning spectral clustering", NIPS 2004): W_ij = exp(−d²_ij / (σ_i σ_j)),
  σ_i the distance of point i to its 7th neighbour, symmetrised by the maximum.
- ``silhouette``: the mean silhouette (Rousseeuw, "Silhouettes: a graphical aid to the interpretation and
  validation of cluster analysis", J. Comput. Appl. Math. 20:53-65, 1987) of k-means with K clusters,
  measured on at most :data:`SILHOUETTE_SAMPLE` points.

Both work on any (N, D) features; ``--k auto`` gives them the raw pixels as float32 in [0, 1]
(:func:`pixel_features`).
"""
from __future__ import annotations

import attrs
import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph
import scipy.sparse.linalg
from sklearn.metrics import silhouette_score

from .errors import ClustError
from .kmeans import kmeans
from .neighbors import knn

CRITERIA = ("eigengap", "silhouette")
"""The criteria :func:`estimate_k` knows."""
K_MAX = 50
"""Largest candidate K of :func:`default_k_max`."""
GRAPH_NEIGHBOURS = 10
"""Neighbours per point of the eigengap's kNN graph (default)."""
LOCAL_SCALE_NEIGHBOUR = 7
"""σ_i is the distance of point i to this neighbour (Zelnik-Manor & Perona 2004)."""
DENSE_MAX_N = 500
"""Up to this many points the Laplacian's eigenvalues come from a dense solver; above, from a sparse one.

The two agree to 1e-14 (digits, N = 1797); the sparse one is 5-100x faster from a few hundred points on, and
the dense one (LAPACK over N x N) slows down most when the machine's cores are busy."""
SILHOUETTE_SAMPLE = 3000
"""The silhouette is measured on at most this many points (it costs N² distances)."""

_NAMES = {"eigengap": ("the eigengap of the kNN graph's normalised Laplacian", "largest gaps"),
          "silhouette": ("the silhouette of k-means", "largest silhouettes")}


@attrs.frozen
class KEstimate:
    """An estimated number of clusters.

    Attributes:
        k: The estimate, the candidate of the largest score.
        criterion: The criterion that chose it (one of :data:`CRITERIA`).
        scores: The score of every candidate K in [2, k_max], the value the criterion maximises.
    """

    k: int
    criterion: str
    scores: dict[int, float]

    def describe(self, top: int = 3) -> str:
        """One line: the estimate, the criterion and the ``top`` best candidates with their scores."""
        what, label = _NAMES[self.criterion]
        best = sorted(self.scores.items(), key=lambda item: (-item[1], item[0]))[:top]
        return f"k = {self.k} by {what} ({label}: {', '.join(f'{k}: {s:.3g}' for k, s in best)})"


def default_k_max(n: int) -> int:
    """The largest candidate K tried for N points: min(:data:`K_MAX`, N − 1)."""
    return min(K_MAX, n - 1)


def pixel_features(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 images as (N, H·W·C) float32 rows in [0, 1]."""
    return np.asarray(images, dtype=np.float32).reshape(len(images), -1) / np.float32(255)


def estimate_k(features: np.ndarray, k_max: int, criterion: str = "eigengap", seed: int = 0,
               n_neighbors: int = GRAPH_NEIGHBOURS) -> KEstimate:
    """Estimate the number of clusters of ``features`` among the candidates 2..``k_max``.

    Args:
        features: (N, D) points (raw pixels: float32 in [0, 1]).
        k_max: The largest candidate K (at least 2, below N); :func:`default_k_max` is the CLI's.
        criterion: ``eigengap`` or ``silhouette`` (see the module docstring).
        seed: Seed of k-means, of the silhouette's sample and of the sparse eigensolver's start.
        n_neighbors: Neighbours per point of the eigengap's kNN graph.

    Returns:
        The estimate with the score of every candidate.

    Raises:
        ClustError: On an unknown criterion, k_max below 2 or not below N, or a bad n_neighbors.
    """
    if criterion not in CRITERIA:
        raise ClustError(f"unknown criterion {criterion!r} to estimate k; choose {' or '.join(CRITERIA)}")
    points = np.ascontiguousarray(features, dtype=np.float32)
    if points.ndim != 2 or len(points) == 0:
        raise ClustError(f"features must be a non-empty 2-D (N, D) matrix, got shape {points.shape}")
    n = len(points)
    if k_max < 2:
        raise ClustError(f"k_max = {k_max}: estimating k needs at least the candidates 2..k_max (k_max >= 2)")
    if k_max >= n:
        raise ClustError(f"k_max = {k_max} must be below the {n} points to estimate k")
    if n_neighbors < 1:
        raise ClustError(f"n_neighbors must be positive, got {n_neighbors}")
    if criterion == "eigengap":
        scores = eigengap_scores(points, k_max, n_neighbors, seed)
    else:
        scores = silhouette_scores(points, k_max, seed)
    best = max(scores, key=lambda k: (scores[k], -k))
    return KEstimate(best, criterion, scores)


def eigengap_scores(features: np.ndarray, k_max: int, n_neighbors: int = GRAPH_NEIGHBOURS,
                    seed: int = 0) -> dict[int, float]:
    """λ_{k+1} − λ_k for k in [2, k_max], λ the ascending eigenvalues of the normalised Laplacian of the
    self-tuning kNN graph (von Luxburg 2007 §8.3; Zelnik-Manor & Perona 2004)."""
    eigenvalues = laplacian_eigenvalues(self_tuning_graph(features, n_neighbors), k_max + 1, seed)
    return {k: float(eigenvalues[k] - eigenvalues[k - 1]) for k in range(2, k_max + 1)}


def self_tuning_graph(features: np.ndarray, n_neighbors: int = GRAPH_NEIGHBOURS) -> scipy.sparse.csr_matrix:
    """The symmetric (max) kNN graph with weights exp(−d²_ij / (σ_i σ_j)), σ_i the distance to the 7th
    neighbour (fewer when N is small); duplicate points get a small positive σ instead of 0."""
    n = len(features)
    width = min(max(n_neighbors, LOCAL_SCALE_NEIGHBOUR), n - 1)
    squared, indices = knn(features, None, width, "l2", exclude_self=True)
    squared = squared.astype(np.float64)
    sigma = np.sqrt(squared[:, min(LOCAL_SCALE_NEIGHBOUR, width) - 1])
    positive = sigma[sigma > 0]
    sigma = np.maximum(sigma, 1e-6 * positive.mean() if len(positive) else 1.0)
    keep = min(n_neighbors, width)
    rows = np.repeat(np.arange(n), keep)
    cols = indices[:, :keep].ravel()
    weights = np.exp(-squared[:, :keep].ravel() / (sigma[rows] * sigma[cols]))
    graph = scipy.sparse.csr_matrix((weights, (rows, cols)), shape=(n, n))
    return graph.maximum(graph.T).tocsr()


def laplacian_eigenvalues(graph: scipy.sparse.spmatrix, count: int, seed: int = 0) -> np.ndarray:
    """The ``count`` smallest eigenvalues, ascending, of L = I − D^-1/2 W D^-1/2 for the affinities W.

    L is block-diagonal over the graph's connected components, each block with one eigenvalue 0 (von Luxburg
    2007, Prop. 4), so each component is solved on its own and the spectra are merged: a zero of multiplicity
    m (m well-separated clusters) is then m exact zeros, where Lanczos from one start vector finds a repeated
    eigenvalue only once per Krylov space (SciPy 1.17's ARPACK returned 6 of 8 blobs' zeros). A component
    of up to :data:`DENSE_MAX_N` points (or with ``count`` close to its size) takes a dense solver; a larger
    one the largest eigenvalues μ of D^-1/2 W D^-1/2 by Lanczos (λ = 1 − μ), far faster than L's smallest.
    """
    _, component = scipy.sparse.csgraph.connected_components(graph, directed=False)
    order = np.argsort(component, kind="stable")
    parts = np.split(order, np.flatnonzero(np.diff(component[order])) + 1)
    graph = graph.tocsr()
    spectra = [_block_eigenvalues(graph[part][:, part], min(count, len(part)), seed) for part in parts]
    return np.clip(np.sort(np.concatenate(spectra))[:count], 0.0, None)


def _block_eigenvalues(graph: scipy.sparse.csr_matrix, count: int, seed: int) -> np.ndarray:
    """The ``count`` smallest eigenvalues of one connected component's normalised Laplacian."""
    n = graph.shape[0]
    degree = np.asarray(graph.sum(axis=1)).ravel()
    scale = scipy.sparse.diags(1.0 / np.sqrt(np.maximum(degree, np.finfo(np.float64).tiny)))
    affinity = (scale @ graph @ scale).tocsr()
    if n <= DENSE_MAX_N or 2 * count + 1 >= n:
        laplacian = np.eye(n) - affinity.toarray()
        return scipy.linalg.eigh(laplacian, eigvals_only=True, subset_by_index=[0, count - 1])
    start = np.random.default_rng(seed).uniform(0.5, 1.5, n)
    mu = scipy.sparse.linalg.eigsh(affinity, k=count, which="LA", v0=start, return_eigenvectors=False)
    return 1.0 - mu


def silhouette_scores(features: np.ndarray, k_max: int, seed: int = 0) -> dict[int, float]:
    """The mean silhouette (Rousseeuw 1987) of k-means with k clusters, for k in [2, k_max], on at most
    :data:`SILHOUETTE_SAMPLE` points (the same sample for every k); −1 where k-means found one cluster."""
    sample = SILHOUETTE_SAMPLE if len(features) > SILHOUETTE_SAMPLE else None
    scores = {}
    for k in range(2, k_max + 1):
        labels = kmeans(features, k, n_redo=3, seed=seed).labels
        try:
            scores[k] = float(silhouette_score(features, labels, sample_size=sample, random_state=seed))
        except ValueError:  # a single cluster (in the sample): the silhouette is undefined
            scores[k] = -1.0
    return scores
