"""Clustering metrics: Hungarian accuracy, many-to-one accuracy, NMI and ARI.

All functions take two 1-D integer label sequences of equal length (numpy
arrays, torch tensors or lists). Labels need not be contiguous and the number
of predicted clusters may differ from the number of classes.
"""

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from .errors import ClustError

_NMI_AVERAGES = ("min", "geometric", "arithmetic", "max")


def _as_labels(values: Any, name: str) -> np.ndarray:
    """Convert a label sequence to a 1-D int64 numpy array.

    Args:
        values: Labels as a numpy array, torch tensor or list.
        name: Argument name used in error messages.

    Returns:
        The labels as a 1-D int64 array.

    Raises:
        ClustError: If the labels are not 1-D, empty or not integers.
    """
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ClustError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        raise ClustError(f"{name} is empty")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(array == np.round(array)):
            raise ClustError(f"{name} must hold integer labels, got dtype {array.dtype}")
    return array.astype(np.int64)


def _check_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a (true labels, predicted clusters) pair.

    Args:
        y_true: Ground-truth class labels.
        y_pred: Predicted cluster assignments.

    Returns:
        Both sequences as 1-D int64 arrays of equal length.

    Raises:
        ClustError: If either is invalid or their lengths differ.
    """
    true = _as_labels(y_true, "y_true")
    pred = _as_labels(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ClustError(f"y_true has {true.size} labels but y_pred has {pred.size}")
    return true, pred


def confusion_matrix(y_true: Any, y_pred: Any) -> np.ndarray:
    """Count co-occurrences of classes and clusters.

    Args:
        y_true: Ground-truth class labels.
        y_pred: Predicted cluster assignments.

    Returns:
        An int64 matrix of shape (n_classes_present, n_clusters_present); rows
        follow the sorted unique classes, columns the sorted unique clusters.
    """
    true, pred = _check_pair(y_true, y_pred)
    _, rows = np.unique(true, return_inverse=True)
    _, cols = np.unique(pred, return_inverse=True)
    counts = np.zeros((rows.max() + 1, cols.max() + 1), dtype=np.int64)
    np.add.at(counts, (rows, cols), 1)
    return counts


def cluster_accuracy(y_true: Any, y_pred: Any) -> float:
    """Accuracy under the best one-to-one cluster-to-class mapping (Hungarian).

    When clusters outnumber classes (or the reverse), the unmatched clusters
    count as wrong.

    Args:
        y_true: Ground-truth class labels.
        y_pred: Predicted cluster assignments.

    Returns:
        The fraction of samples correctly labelled, in [0, 1].
    """
    counts = confusion_matrix(y_true, y_pred)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / counts.sum())


def many_to_one_accuracy(y_true: Any, y_pred: Any) -> float:
    """Accuracy when every cluster is mapped to its majority class.

    Suited to over-clustering, where several clusters may share one class.

    Args:
        y_true: Ground-truth class labels.
        y_pred: Predicted cluster assignments.

    Returns:
        The fraction of samples correctly labelled, in [0, 1].
    """
    counts = confusion_matrix(y_true, y_pred)
    return float(counts.max(axis=0).sum() / counts.sum())


def nmi(y_true: Any, y_pred: Any, average: str = "geometric") -> float:
    """Normalized mutual information.

    Args:
        y_true: Ground-truth class labels.
        y_pred: Predicted cluster assignments.
        average: How the two entropies are averaged in the denominator:
            "geometric" (as in DCCM, DCCS, JULE, SPICE), "arithmetic", "min"
            or "max".

    Returns:
        NMI in [0, 1].

    Raises:
        ClustError: If ``average`` is not a known method.
    """
    if average not in _NMI_AVERAGES:
        raise ClustError(f"unknown NMI average {average!r}; choose one of {', '.join(_NMI_AVERAGES)}")
    true, pred = _check_pair(y_true, y_pred)
    return float(normalized_mutual_info_score(true, pred, average_method=average))


def ari(y_true: Any, y_pred: Any) -> float:
    """Adjusted Rand index.

    Args:
        y_true: Ground-truth class labels.
        y_pred: Predicted cluster assignments.

    Returns:
        ARI, 1 for identical partitions and about 0 for random ones.
    """
    true, pred = _check_pair(y_true, y_pred)
    return float(adjusted_rand_score(true, pred))


def evaluate(y_true: Any, y_pred: Any, nmi_average: str = "geometric") -> dict[str, Any]:
    """Compute every clustering metric at once.

    Args:
        y_true: Ground-truth class labels.
        y_pred: Predicted cluster assignments.
        nmi_average: Entropy averaging used for NMI (see :func:`nmi`).

    Returns:
        A dict with keys ``acc``, ``nmi``, ``nmi_average``, ``ari``, ``n``
        (samples), ``k`` (distinct predicted clusters), ``n_classes`` and
        ``acc_many_to_one``.
    """
    true, pred = _check_pair(y_true, y_pred)
    return {
        "acc": cluster_accuracy(true, pred),
        "nmi": nmi(true, pred, nmi_average),
        "nmi_average": nmi_average,
        "ari": ari(true, pred),
        "n": int(true.size),
        "k": int(np.unique(pred).size),
        "n_classes": int(np.unique(true).size),
        "acc_many_to_one": many_to_one_accuracy(true, pred),
    }


def neighbour_purity(neighbours: Any, y_true: Any) -> float:
    """Share of (image, neighbour) pairs, the image itself left out, whose neighbour has the image's class.

    SCAN prints it for its mined neighbours (Van Gansbeke et al., ECCV 2020; released code ``utils/memory.py``
    ``mine_nearest_neighbors``, which leaves out each image's first column, itself).

    Args:
        neighbours: (N, k) dataset indices of each image's neighbours.
        y_true: (N,) class labels.
    """
    table = np.asarray(neighbours.cpu() if hasattr(neighbours, "cpu") else neighbours, dtype=np.int64)
    labels = _as_labels(y_true, "y_true")
    others = table != np.arange(len(table))[:, None]
    if not others.any():
        return float("nan")
    return float((labels[table] == labels[:, None])[others].mean())
