"""Shared helpers for the report pictures: saving a figure and message PNGs."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

_DPI = 100


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
