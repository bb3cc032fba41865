"""PNG pictures a person looks at after a clustering run.

Every public function draws on its own :class:`matplotlib.figure.Figure`
(Agg canvas, no pyplot state), so it is thread-safe and needs no display.
Each writes one PNG, creating parent directories, and returns its path.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from .metrics import confusion_matrix

_DPI = 100
_ANNOTATE_MAX = 20
_MAX_TICKS = 50
_LEGEND_MAX = 20
_NO_CURVES = "no training curves (the recipe has no training)"
_AXIS_KEYS = ("stage", "epoch", "step")


def _save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path``, creating parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)
    return path


def _message_png(message: str, path: str | Path) -> Path:
    """Write a small PNG that only shows ``message``."""
    fig = Figure(figsize=(6, 2))
    fig.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
    return _save(fig, path)


def _label_colours(n: int) -> ListedColormap:
    """A qualitative colour map with ``n`` distinguishable colours."""
    if n <= 10:
        return ListedColormap([f"C{i}" for i in range(n)])
    return colormaps["tab20" if n <= 20 else "turbo"].resampled(n)


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


def _is_number(value: object) -> bool:
    """True for real numbers, bools excluded."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _curve_keys(records: Sequence[Mapping[str, object]]) -> list[str]:
    """Numeric metric keys: loss keys first, then grouped by prefix before ``/``."""
    seen: dict[str, int] = {}
    for record in records:
        for key, value in record.items():
            if key not in _AXIS_KEYS and _is_number(value):
                seen.setdefault(key, len(seen))
    group_rank: dict[str, int] = {}
    for key in seen:
        group_rank.setdefault(key.split("/")[0], len(group_rank))
    return sorted(
        seen,
        key=lambda k: (not k.startswith("loss"), group_rank[k.split("/")[0]], seen[k]),
    )


def plot_training_curves(records: Iterable[Mapping[str, object]], path: str | Path) -> Path:
    """Plot every numeric logged value against the step, one subplot per key.

    Keys ``stage``, ``epoch`` and ``step`` are not plotted; loss keys come
    first. Each stage (e.g. ``train``, ``eval``) gets its own line, named in
    the legend or, when alone, in the subplot title. The x axis is ``step``
    when every plotted record has one, otherwise record order.

    Args:
        records: Dicts as read from a metrics.jsonl log.
        path: Where to write the PNG.

    Returns:
        The path of the written PNG.
    """
    plotted = [
        r for r in records if any(k not in _AXIS_KEYS and _is_number(v) for k, v in r.items())
    ]
    keys = _curve_keys(plotted)
    if not keys:
        return _message_png(_NO_CURVES, path)

    use_step = all(_is_number(r.get("step")) for r in plotted)
    xs = [float(r["step"]) if use_step else float(i) for i, r in enumerate(plotted)]
    stages = list(dict.fromkeys(str(r.get("stage", "")) for r in plotted))

    n_cols = min(3, len(keys))
    n_rows = math.ceil(len(keys) / n_cols)
    fig = Figure(figsize=(4.2 * n_cols, 2.8 * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        drawn = []
        for stage in stages:
            points = [
                (x, float(r[key]))
                for x, r in zip(xs, plotted)
                if str(r.get("stage", "")) == stage and _is_number(r.get(key))
            ]
            if points:
                x, y = zip(*points)
                ax.plot(x, y, marker="o" if len(points) < 30 else None, markersize=3, label=stage)
                drawn.append(stage)
        alone = len(drawn) == 1 and drawn[0] != ""
        ax.set_title(f"{key} ({drawn[0]})" if alone else key, fontsize=10)
        ax.set_xlabel("step" if use_step else "record", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if len(drawn) > 1:
            ax.legend(fontsize=7)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    return _save(fig, path)


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


def write_report(
    run_dir: str | Path,
    *,
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    confidences: Sequence[float] | np.ndarray,
    features: np.ndarray | None = None,
    true_labels: Sequence[int] | np.ndarray | None = None,
    records: Iterable[Mapping[str, object]] = (),
) -> list[Path]:
    """Write the run's pictures into ``run_dir/report/``.

    Files: ``confusion.png`` (only with ``true_labels``), ``clusters.png``,
    ``curves.png`` and ``embedding.png`` (only with ``features``).

    Args:
        run_dir: The run directory.
        images: uint8 images, N×H×W or N×H×W×C (C = 1 or 3).
        labels: Cluster id per image.
        confidences: Assignment confidence per image.
        features: Optional N×D feature matrix for the embedding picture.
        true_labels: Optional ground-truth classes.
        records: Parsed metrics.jsonl records for the training curves.

    Returns:
        The written paths, in the order listed above.
    """
    out = Path(run_dir) / "report"
    written = []
    if true_labels is not None:
        written.append(plot_confusion(true_labels, labels, out / "confusion.png"))
    written.append(plot_cluster_montage(images, labels, confidences, out / "clusters.png"))
    written.append(plot_training_curves(records, out / "curves.png"))
    if features is not None:
        written.append(
            plot_embedding_2d(features, labels, out / "embedding.png", true_labels=true_labels)
        )
    return written
