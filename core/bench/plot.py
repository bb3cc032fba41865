"""``bench.png``: ACC against wall time, one panel per dataset, one colour per recipe, each seed a point."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from ..report._figure import _message_png, _save
from .tables import row_label


def plot_bench(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """One scatter panel per dataset: x the cell's wall seconds (log scale), y its ACC; the recipe's mean
    over seeds is a larger hollow marker. Failed cells are not drawn (``table.md`` lists them)."""
    done = [r for r in rows if r["status"] == "ok" and r.get("acc") is not None]
    if not done:
        return _message_png("no finished cell with labels to plot", path)
    datasets = list(dict.fromkeys(r["dataset"] for r in done))
    labels = list(dict.fromkeys(row_label(r) for r in rows))
    colours = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    markers = "osD^v<>ph*"
    fig = Figure(figsize=(4.2 * len(datasets) + 1.8, 3.8), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets):
        for i, label in enumerate(labels):
            points = [(float(r["wall_seconds"]), float(r["acc"])) for r in done
                      if r["dataset"] == dataset and row_label(r) == label]
            if not points:
                continue
            xs, ys = zip(*points)
            marker = markers[i % len(markers)]
            ax.scatter(xs, ys, color=colours[label], marker=marker, s=22, alpha=0.7,
                       label=label if dataset == datasets[0] else None)
            ax.scatter([sum(xs) / len(xs)], [sum(ys) / len(ys)], facecolors="none", edgecolors=colours[label],
                       marker=marker, s=110, linewidths=1.5)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # under a decade, minor tick labels overlapped
        ax.set_title(dataset)
        ax.set_xlabel("wall seconds per run (log)")
        ax.set_ylabel("ACC")
        ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=8)
    return _save(fig, path)
