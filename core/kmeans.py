"""k-means on FAISS (GPU when possible), with a scikit-learn fallback."""

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

from .errors import ClustError
from . import neighbors
from .neighbors import _as_matrix, _to_numpy, faiss_gpu_available, knn


@dataclass(frozen=True)
class KMeansResult:
    """Outcome of :func:`kmeans`.

    Attributes:
        labels: int64 (N,) cluster of each point.
        centroids: float32 (k, D) cluster centres.
        inertia: Sum of squared distances of the points to their centroids.
        distances: float32 (N,) squared distance of each point to its centroid.
    """

    labels: np.ndarray
    centroids: np.ndarray
    inertia: float
    distances: np.ndarray


def kmeans(
    features: Any,
    k: int,
    *,
    n_iter: int = 100,
    n_redo: int = 5,
    seed: int = 0,
    spherical: bool = False,
    backend: str = "auto",
) -> KMeansResult:
    """Lloyd k-means keeping the best of ``n_redo`` runs; deterministic for a fixed seed.

    Args:
        features: (N, D) features, numpy or torch.
        k: Number of clusters.
        n_iter: Iterations per run.
        n_redo: Runs with different initialisations.
        seed: Random seed.
        spherical: Normalise centroids and assign by inner product. The
            sklearn fallback approximates this by clustering L2-normalised rows.
        backend: "auto" (FAISS if installed, GPU when possible), "faiss" or "sklearn".

    Returns:
        The labels, centroids, inertia and per-point squared distances.

    Raises:
        ClustError: On a bad k, backend or shape.
    """
    if backend not in ("auto", "faiss", "sklearn"):
        raise ClustError(f"unknown kmeans backend {backend!r}; choose 'auto', 'faiss' or 'sklearn'")
    if backend == "faiss" and neighbors.faiss is None:
        raise ClustError("kmeans backend 'faiss' requested but faiss is not installed")
    points = _to_numpy(_as_matrix(features, "features"))
    n, dim = points.shape
    if not 1 <= k <= n:
        raise ClustError(f"k={k} clusters must be between 1 and the {n} points")
    if n_iter < 1 or n_redo < 1:
        raise ClustError(f"n_iter and n_redo must be positive, got {n_iter} and {n_redo}")
    if backend == "sklearn" or neighbors.faiss is None:
        if backend == "auto":
            warnings.warn("faiss is not installed; using scikit-learn k-means, which is slower", stacklevel=2)
        centroids = _kmeans_sklearn(points, k, n_iter, n_redo, seed, spherical)
        search_backend = "torch"
    else:
        model = neighbors.faiss.Kmeans(
            dim, k, niter=n_iter, nredo=n_redo, seed=seed, spherical=spherical,
            max_points_per_centroid=n, min_points_per_centroid=1, gpu=faiss_gpu_available(), verbose=False,
        )
        model.train(points)
        centroids = model.centroids
        search_backend = "faiss"
    _, nearest = knn(points, centroids, 1, "ip" if spherical else "l2", backend=search_backend)
    labels = nearest[:, 0]
    distances = ((points - centroids[labels]) ** 2).sum(axis=1, dtype=np.float32)
    return KMeansResult(labels, centroids.astype(np.float32), float(distances.sum()), distances)


def _kmeans_sklearn(points: np.ndarray, k: int, n_iter: int, n_redo: int, seed: int, spherical: bool) -> np.ndarray:
    """Fit scikit-learn k-means and return its (k, D) centroids."""
    if spherical:
        points = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    centroids = KMeans(n_clusters=k, n_init=n_redo, max_iter=n_iter, random_state=seed).fit(points).cluster_centers_
    if spherical:
        centroids = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(centroids, dtype=np.float32)
