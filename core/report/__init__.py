"""PNG pictures a person looks at after a clustering run.

Every public function draws on its own :class:`matplotlib.figure.Figure`
(Agg canvas, no pyplot state), so it is thread-safe and needs no display.
Each writes one PNG, creating parent directories, and returns its path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .confusion import matched_confusion, plot_confusion
from .curves import plot_training_curves
from .embedding import plot_embedding_2d
from .montage import plot_cluster_montage

__all__ = [
    "matched_confusion",
    "plot_cluster_montage",
    "plot_confusion",
    "plot_embedding_2d",
    "plot_training_curves",
    "write_report",
]


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
