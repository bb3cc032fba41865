"""The Hungarian-matched confusion matrix picture."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import linear_sum_assignment

from ..metrics import confusion_matrix
from ._figure import _save

_ANNOTATE_MAX = 20
_MAX_TICKS = 50


def matched_confusion(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Confusion counts with clusters reordered by the Hungarian matching.

    Rows are the sorted true classes; columns are clusters. Each class's
    matched cluster comes in that class's row order (so a perfect clustering
    under any relabelling shows a diagonal); unmatched clusters follow in id
    order.

    Args:
        y_true: Ground-truth class per sample, shape (N,).
        y_pred: Cluster id per sample, shape (N,).

    Returns:
        ``(matrix, column_order)``: the (classes × clusters) integer count
        matrix with reordered columns, and the cluster id of each column.

    Raises:
        ClustError: If the two label arrays differ in length or are empty.
    """
    counts = confusion_matrix(y_true, y_pred)
    clusters = np.unique(np.asarray(y_pred).ravel())
    rows, cols = linear_sum_assignment(-counts)
    matched = cols[np.argsort(rows)]
    unmatched = np.setdiff1d(np.arange(clusters.size), matched)
    order = np.concatenate([matched, unmatched])
    return counts[:, order], clusters[order]


def plot_confusion(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, path: str | Path
) -> Path:
    """Draw the Hungarian-matched confusion matrix with the implied accuracy.

    Args:
        y_true: Ground-truth class per sample, shape (N,).
        y_pred: Cluster id per sample, shape (N,).
        path: Where to write the PNG.

    Returns:
        The path of the written PNG.

    Raises:
        ClustError: If the two label arrays differ in length or are empty.
    """
    matrix, column_ids = matched_confusion(y_true, y_pred)
    classes = np.unique(np.asarray(y_true))
    n_rows, n_cols = matrix.shape
    rows, cols = linear_sum_assignment(-matrix)
    acc = matrix[rows, cols].sum() / matrix.sum()

    width = float(np.clip(0.45 * n_cols + 3.0, 6.0, 24.0))
    height = float(np.clip(0.45 * n_rows + 1.5, 4.5, 24.0))
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="samples")

    for axis_ticks, labels, set_ticks, set_labels in (
        (n_cols, column_ids, ax.set_xticks, ax.set_xticklabels),
        (n_rows, classes, ax.set_yticks, ax.set_yticklabels),
    ):
        step = math.ceil(axis_ticks / _MAX_TICKS)
        positions = np.arange(0, axis_ticks, step)
        set_ticks(positions)
        set_labels([str(labels[i]) for i in positions], fontsize=8 if axis_ticks > 20 else 10)
    if n_cols > 20:
        ax.tick_params(axis="x", labelrotation=90)

    if n_rows <= _ANNOTATE_MAX and n_cols <= _ANNOTATE_MAX:
        threshold = matrix.max() / 2
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if count > threshold else "black",
            )

    ax.set_xlabel("cluster (ordered by Hungarian matching)")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix — ACC {acc:.3f} (N={matrix.sum()})")
    return _save(fig, path)
