"""The agglomerative process: partial unrolling (paper §3.6) over the cluster graph.

One *period* rebuilds the sample graph on the current features and merges
n_p = min(ceil(η·n_c^s), n_c^s − n_c*) times (paper §3.6; the cap at n_c* as the released Torch
code's ``train.lua`` ``updateLabels``). Re-clustering from scratch (the paper's OURS-RC) runs the
1-NN chain initialisation and then periods on fixed features down to n_c*.

JULE: Yang, Parikh, Batra, CVPR 2016, https://arxiv.org/abs/1604.03628; released Torch code:
https://github.com/jwyang/JULE.torch.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse

from .graph import chain_init, knn_distances, l2_normalize, sample_graph
from .merging import ClusterGraph


def period_merges(n_clusters: int, target: int, eta: float) -> int:
    """n_p = min(ceil(η·n_c^s), n_c^s − n_c*) (paper §3.6; Torch ``updateLabels``)."""
    return max(0, min(math.ceil(eta * n_clusters), n_clusters - target))


def schedule(n_clusters: int, target: int, eta: float) -> list[int]:
    """Cluster counts at the end of each period, from ``n_clusters`` down to ``target``."""
    counts = []
    while n_clusters > target:
        n_clusters -= max(1, period_merges(n_clusters, target, eta))
        counts.append(n_clusters)
    return counts


def merge_period(features: np.ndarray, labels: np.ndarray, target: int, *, eta: float, k_s: int = 20,
                 a: float = 1.0, k_c: int = 5, lam: float = 1.0, update: str = "exact", alpha: float = 0.0,
                 isolated_factor: float = 20.0, distances: scipy.sparse.csr_matrix | None = None) -> np.ndarray:
    """One forward pass (paper §3.5): rebuild W on ``features`` and merge n_p clusters.

    Before merging, while there are more than ``isolated_factor``·n_c* clusters, every
    cluster with zero affinity to all others joins the cluster of nearest mean (Torch
    ``affinity.lua: compute4cluster``); such merges count towards n_p.

    Args:
        distances: The kNN squared distances of ``features`` when already known (RC reuses them).

    Returns:
        The new labels, 0..n_c−1.
    """
    labels = np.unique(np.asarray(labels), return_inverse=True)[1]
    n_clusters = int(labels.max()) + 1
    n_merges = period_merges(n_clusters, target, eta)
    if n_merges == 0:
        return labels.astype(np.int64)
    features = l2_normalize(features)
    distances = knn_distances(features, k_s) if distances is None else distances
    graph = ClusterGraph(sample_graph(distances, a), labels, features,
                         k_c=k_c, lam=lam, update=update, alpha=alpha)
    done = 0
    if n_clusters > isolated_factor * target:
        for x in graph.isolated():
            if done == n_merges:
                break
            if graph.live[x] and graph.n_clusters > 1:
                graph.merge(x, graph.nearest_mean(x))
                done += 1
    graph.run(n_merges - done)
    return graph.compact_labels()


def recluster(features: np.ndarray, target: int, *, eta: float, k_s: int = 20,
              distances: scipy.sparse.csr_matrix | None = None, **merge: float | str) -> np.ndarray:
    """Agglomerative clustering from scratch (the paper's OURS-RC): 1-NN chain, then periods to ``target``.

    Args:
        distances: The kNN squared distances of the L2-normalised ``features`` when already known.
    """
    features = l2_normalize(features)
    if len(features) <= target:
        return np.arange(len(features), dtype=np.int64)
    distances = knn_distances(features, k_s) if distances is None else distances
    labels = chain_init(distances)
    while labels.max() + 1 > target:
        labels = merge_period(features, labels, target, eta=eta, k_s=k_s, distances=distances, **merge)
    return labels
