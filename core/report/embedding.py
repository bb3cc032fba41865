"""The 2-D embedding (t-SNE) picture of the features."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from ._figure import _save

_LEGEND_MAX = 20


def _label_colours(n: int) -> ListedColormap:
    """A qualitative colour map with ``n`` distinguishable colours."""
    if n <= 10:
        return ListedColormap([f"C{i}" for i in range(n)])
    return colormaps["tab20" if n <= 20 else "turbo"].resampled(n)


def _embed_2d(features: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """Project rows of ``features`` to 2-D and name the method used.

    D ≤ 2 (or fewer than 3 rows) is drawn directly, padded with zeros to two
    columns; otherwise PCA to at most 50 dimensions then t-SNE.
    """
    n, d = features.shape
    if d <= 2 or n < 3:
        direct = np.zeros((n, 2))
        direct[:, : min(d, 2)] = features[:, :2]
        return direct, "features"
    reduced = PCA(n_components=min(50, d, n), random_state=seed).fit_transform(features)
    tsne = TSNE(
        n_components=2,
        init="pca",
        perplexity=min(30.0, (n - 1) / 3),
        max_iter=500,
        random_state=seed,
    )
    return tsne.fit_transform(reduced), "t-SNE"


def _scatter_panel(ax: Axes, points: np.ndarray, colour_by: np.ndarray, title: str) -> None:
    """Scatter ``points`` coloured by the discrete labels ``colour_by``."""
    values, index = np.unique(colour_by, return_inverse=True)
    cmap = _label_colours(len(values))
    size = float(np.clip(12000 / len(points), 3, 30))
    ax.scatter(points[:, 0], points[:, 1], c=cmap(index), s=size, linewidths=0)
    if len(values) <= _LEGEND_MAX:
        handles = [
            Line2D([], [], marker="o", linestyle="", color=cmap(i), label=str(v))
            for i, v in enumerate(values)
        ]
        ax.legend(
            handles=handles,
            fontsize=7,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
        )
    ax.set_title(f"{title} ({len(values)})", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_embedding_2d(
    features: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    path: str | Path,
    *,
    true_labels: Sequence[int] | np.ndarray | None = None,
    max_points: int = 5000,
    seed: int = 0,
) -> Path:
    """Draw a 2-D map of the features coloured by cluster (and true class).

    Features with more than two dimensions are reduced with PCA to 50
    dimensions then t-SNE; above ``max_points`` rows a seeded random subset
    is drawn.

    Args:
        features: Float feature matrix, N×D.
        labels: Cluster id per row, shape (N,).
        path: Where to write the PNG.
        true_labels: Optional ground-truth class per row, for a second panel.
        max_points: Most rows embedded and drawn.
        seed: Seed for the subsampling, PCA and t-SNE.

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If the shapes disagree or there is nothing to draw.
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    if features.ndim != 2 or features.shape[0] != labels.size or features.size == 0:
        raise ValueError(
            f"features must be a non-empty N×D matrix matching {labels.size} labels, "
            f"got shape {features.shape}"
        )
    panels = [(labels, "clusters")]
    if true_labels is not None:
        true_labels = np.asarray(true_labels).ravel()
        if true_labels.size != labels.size:
            raise ValueError(f"true_labels has {true_labels.size} entries, labels {labels.size}")
        panels.append((true_labels, "true classes"))

    n = labels.size
    keep = np.arange(n)
    if n > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
    points, method = _embed_2d(features[keep], seed)

    fig = Figure(figsize=(6.2 * len(panels), 5.4), layout="constrained")
    for ax, (colour_by, title) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        _scatter_panel(ax, points, colour_by[keep], f"{method}, coloured by {title}")
    suffix = f" (random {len(keep)} of {n})" if len(keep) < n else f" (N={n})"
    fig.suptitle(f"2-D embedding{suffix}", fontsize=11)
    return _save(fig, path)
