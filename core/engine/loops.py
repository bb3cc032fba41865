"""Core's two training loops: plain mini-batches, and labels per large batch with repeated inner mini-batches.

A loop decides how an epoch's images become optimiser steps; it reads the run
only through a :class:`~clust_core.components.LoopContext` (views of indices,
supervision, one step). Plugins register their own loops with ``clust_loops``.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from ..components import BuildContext, LoopContext


class MiniBatchLoop:
    """One step per shuffled batch of ``batch_size`` images, on the views the labelers and losses read."""

    def __init__(self, ctx: BuildContext) -> None:
        del ctx

    def steps_per_epoch(self, ctx: LoopContext) -> int:
        """One step per index batch."""
        return len(ctx.index_batches(ctx.config.batch_size, 0))

    def epoch(self, ctx: LoopContext, epoch: int) -> Iterator[dict[str, float]]:
        """Views → supervision → step, batch by batch."""
        names = sorted(set(ctx.labeler_views()) | set(ctx.loss_views()))
        for index in ctx.index_batches(ctx.config.batch_size, epoch):
            batch = ctx.views(index, names)
            yield ctx.train_step(batch, ctx.supervision(batch))


class OuterInnerLoop:
    """Labels once per *outer* batch of ``batch_size`` images, then trains on it in inner mini-batches.

    Per outer batch: the batch-scope labelers run on it once; then ``repeats`` times
    it is shuffled into mini-batches of ``inner_batch`` images (a short last one is
    dropped unless it is the only one), and each mini-batch takes ``draws`` steps,
    each on a fresh augmented draw of its loss views (views whose augmentation is
    ``clean`` are deterministic and taken from the outer batch). Methods that label a
    large batch once and then train on it several times use it (plugins cite their paper).
    """

    def __init__(self, ctx: BuildContext, repeats: int = 10, inner_batch: int = 32, draws: int = 2) -> None:
        del ctx
        for name, value in (("repeats", repeats), ("inner_batch", inner_batch), ("draws", draws)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.repeats, self.inner_batch, self.draws = repeats, inner_batch, draws

    def steps_per_epoch(self, ctx: LoopContext) -> int:
        """Outer batches x repeats x inner mini-batches x draws."""
        outer = ctx.index_batches(ctx.config.batch_size, 0)
        return sum(self.repeats * self.draws * len(self._chunks(len(index))) for index in outer)

    def outer_batches(self, ctx: LoopContext) -> int:
        """Outer batches an epoch: each is labelled once before its steps (a calibration charges it so)."""
        return len(ctx.index_batches(ctx.config.batch_size, 0))

    def _chunks(self, size: int, order: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        chunks = (torch.arange(size) if order is None else order).split(self.inner_batch)
        if len(chunks) > 1 and len(chunks[-1]) < self.inner_batch:
            chunks = chunks[:-1]
        return chunks

    def epoch(self, ctx: LoopContext, epoch: int) -> Iterator[dict[str, float]]:
        """Outer batch → labels → repeats x inner mini-batches x draws."""
        loss_views = ctx.loss_views()
        for outer_index in ctx.index_batches(ctx.config.batch_size, epoch):
            outer = ctx.views(outer_index, ctx.labeler_views())
            supervision = ctx.supervision(outer)
            static = [v for v in loss_views if v in outer and ctx.config.views[v].augmentation == "clean"]
            random_views = [v for v in loss_views if v not in static]
            for _ in range(self.repeats):
                for positions in self._chunks(len(outer_index), torch.randperm(len(outer_index))):
                    sub = {key: value.take(positions) for key, value in supervision.items()}
                    for _ in range(self.draws):
                        views = ctx.views(outer_index[positions], random_views)
                        views.update({v: outer[v][positions] for v in static})
                        yield ctx.train_step(views, sub)
