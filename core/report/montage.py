"""The per-cluster montage of the most confident images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ._figure import _message_png, _save


def _as_nhwc(images: np.ndarray) -> np.ndarray:
    """Return uint8 images as N×H×W×C with C in (1, 3)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be N×H×W or N×H×W×C with C in (1, 3), got {images.shape}"
        )
    return images


def plot_cluster_montage(
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    confidences: Sequence[float] | np.ndarray,
    path: str | Path,
    *,
    per_cluster: int = 10,
    max_clusters: int = 50,
) -> Path:
    """Show each cluster's most confident images, one row per cluster.

    Rows are sorted by cluster id (at most ``max_clusters``); within a row
    images go left to right by decreasing confidence.

    Args:
        images: uint8 array, N×H×W (grey) or N×H×W×C with C = 1 or 3.
        labels: Cluster id per image, shape (N,).
        confidences: Assignment confidence per image, shape (N,).
        path: Where to write the PNG.
        per_cluster: Images shown per row.
        max_clusters: Most rows drawn.

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If the shapes disagree or the images are not uint8 N×H×W(×C).
    """
    images = _as_nhwc(images)
    labels = np.asarray(labels).ravel()
    confidences = np.asarray(confidences, dtype=float).ravel()
    if not len(images) == labels.size == confidences.size:
        raise ValueError(
            f"images, labels and confidences differ in length: "
            f"{len(images)}, {labels.size}, {confidences.size}"
        )
    if labels.size == 0:
        return _message_png("no images to show", path)

    clusters, sizes = np.unique(labels, return_counts=True)
    shown = clusters[:max_clusters]
    _, h, w, c = images.shape
    pad = max(1, min(h, w) // 16)
    mosaic = np.full(
        (len(shown) * (h + pad) + pad, per_cluster * (w + pad) + pad, c), 255, dtype=np.uint8
    )
    for r, cluster in enumerate(shown):
        members = np.flatnonzero(labels == cluster)
        best = members[np.argsort(-confidences[members], kind="stable")[:per_cluster]]
        top = pad + r * (h + pad)
        for col, index in enumerate(best):
            left = pad + col * (w + pad)
            mosaic[top : top + h, left : left + w] = images[index]

    row_labels = [f"cluster {k} (n={m})" for k, m in zip(shown, sizes[: len(shown)])]
    title = "most confident images per cluster (left = most confident)"
    if len(clusters) > len(shown):
        title += f"\nshowing {len(shown)} of {len(clusters)} clusters"

    # Lay out in inches so the row labels and title always fit: each row is
    # 0.6 in tall, labels take about 0.085 in per character at 10 pt.
    inch_per_px = 0.6 / (h + pad)
    axes_w, axes_h = mosaic.shape[1] * inch_per_px, mosaic.shape[0] * inch_per_px
    left = 0.3 + 0.085 * max(len(t) for t in row_labels)
    top = 0.25 + 0.2 * (title.count("\n") + 1)
    margin = 0.15
    fig_w = max(left + axes_w + margin, 5.6)
    fig_h = top + axes_h + margin
    fig = Figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes((left / fig_w, margin / fig_h, axes_w / fig_w, axes_h / fig_h))
    if c == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=255, aspect="auto")
    else:
        ax.imshow(mosaic, aspect="auto")
    ax.set_xticks([])
    ax.set_yticks(pad + np.arange(len(shown)) * (h + pad) + (h - 1) / 2)
    ax.set_yticklabels(row_labels, fontsize=10)
    ax.tick_params(axis="y", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=10, loc="left")
    return _save(fig, path)
