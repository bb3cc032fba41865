"""Recipes: a method as an ordered list of stages built from named components."""
from __future__ import annotations

from collections.abc import Callable

import attrs

from .config import StageConfig


@attrs.frozen
class DataInfo:
    """What a recipe may look at to choose per-dataset defaults."""

    name: str
    """Canonical dataset name: ``digits``, ``mnist``, ``cifar10``, ``npz:<stem>``, ``folder:<dir>``…"""
    shape: tuple[int, int, int]
    """Image shape (C, H, W)."""
    n: int
    k: int

    @property
    def known(self) -> str:
        """The dataset name without source prefix (``npz:mnist_test`` → ``mnist_test``)."""
        return self.name.split(":", 1)[-1]


@attrs.frozen(kw_only=True)
class RecipeSpec:
    """A named method: ``stages(data)`` returns its stages in order, by name.

    The stages carry the paper's defaults for ``data``; for data the paper
    does not name, the recipe picks them from the image size and channels.
    """

    name: str
    stages: Callable[[DataInfo], dict[str, StageConfig]]
    doc: str = ""
    plugin: str = ""
