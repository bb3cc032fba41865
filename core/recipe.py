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
    input_size: Callable[[DataInfo], int | None] | None = None
    """The side (pixels) to which the run resizes the images when ``data.size`` is not set, or None to keep
    them: a CPU-sized input for data the paper does not name (:func:`cifar_sized_input`)."""


CPU_INPUT_SIDE = 32
"""CIFAR's 32 x 32: the smallest input of the deep-clustering papers' benchmarks (CIFAR-10/100), for which
their CIFAR networks (ResNet-18 with a 3 x 3 stem, no max-pool) and augmentations are defined."""


def cifar_sized_input(paper_sets: tuple[str, ...]) -> Callable[[DataInfo], int | None]:
    """An ``input_size`` rule: data named by the paper (names starting with one of ``paper_sets``) keep their
    size and the paper's schedule; other images larger than 32 px are resized to 32 x 32
    (:data:`CPU_INPUT_SIDE`). On 2 CPU cores, SCAN on COIL-20 at its 128 px (SPICE's ResNet-34 above 64 px)
    took 1,183 s for the calibration and one step of each stage, ten times a 2-minute budget."""
    def input_size(data: DataInfo) -> int | None:
        if data.known.startswith(paper_sets) or max(data.shape[1:]) <= CPU_INPUT_SIDE:
            return None
        return CPU_INPUT_SIDE
    return input_size
