"""The training curves picture, drawn from metrics.jsonl records."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from ._figure import _message_png, _save

_NO_CURVES = "no training curves (the recipe has no training)"
_AXIS_KEYS = ("stage", "epoch", "step")


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
