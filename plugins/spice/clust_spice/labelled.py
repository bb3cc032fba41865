"""FixMatch's labelled stream as a training loop (SPICE stage 3, Niu et al., IEEE TIP 2022, §III-C,
https://arxiv.org/abs/2103.09382; FixMatch, Sohn et al., NeurIPS 2020, §3 and Algorithm 1:
https://arxiv.org/abs/2001.07685).

Each step trains on ``batch_size`` labelled images (those where a dataset-scope
labeler's mask is set, drawn in a fresh random order per pass over them, as
FixMatch's separate labelled loader) followed by the stage's ``batch_size``
images drawn from all images (the unlabelled batch, mu·B = 7·64 = 448: FixMatch's values, kept by SPICE §IV-B).
In that labeler's supervision only the labelled rows keep their labels.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch
from torch import Tensor

from clust_core.components import BuildContext, LoopContext, PseudoLabelerSpec, Supervision
from clust_core.config import StageConfig
from clust_core.engine.views import shuffled_batches
from clust_core.errors import ClustError


class LabelledBatches:
    """Endless shuffled batches of the images where ``mask`` is set, joined in front of main batches.

    Args:
        views: Index batch -> its views (and ``index``).
        mask: Which images are labelled (all images of the dataset).
        batch_size: Labelled images per batch (per rank under DDP).
        rank, world_size: This process's share, as the main batches'.
        seed: Seed of the labelled order.

    Raises:
        ClustError: When the labeler labelled no image.
    """

    def __init__(self, views: Callable[[Tensor], dict[str, Tensor]], mask: Tensor, batch_size: int,
                 rank: int, world_size: int, *, seed: int) -> None:
        self.indices = torch.nonzero(mask.cpu(), as_tuple=True)[0]
        if not len(self.indices):
            raise ClustError("the labelled stream is empty: its labeler kept no image (lower its threshold)")
        self.views, self.batch_size, self.rank, self.world_size, self.seed = views, batch_size, rank, world_size, seed
        self.batches = self._cycle()

    def _cycle(self) -> Iterator[dict[str, Tensor]]:
        rounds = 0
        while True:
            for positions in shuffled_batches(len(self.indices), self.batch_size, self.rank, self.world_size,
                                              seed=self.seed, epoch=rounds):
                yield self.views(self.indices[positions])
            rounds += 1

    def join(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The next labelled batch followed by ``batch``; ``labelled`` marks the rows of the former."""
        labelled = next(self.batches)
        joined = {key: torch.cat([labelled[key], value]) for key, value in batch.items()}
        joined["labelled"] = torch.arange(len(joined["index"])) < len(labelled["index"])
        return joined


def keep_labelled_rows(supervision: Supervision, labelled: Tensor) -> Supervision:
    """Labels and mask only on the labelled stream's rows (label −1, mask False elsewhere)."""
    keep = labelled.to(supervision.labels.device) & supervision.mask.bool()
    return Supervision(labels=torch.where(keep, supervision.labels, torch.full_like(supervision.labels, -1)),
                       mask=keep)


class LabelledLoop:
    """One step per main batch, with ``batch_size`` images of ``labeler``'s labelled set in front of it.

    Args:
        ctx: Build context (unused).
        labeler: The dataset-scope labeler whose masked rows are the labelled set (SPICE §III-C: the
            reliable pseudo-labels).
        batch_size: Labelled images per step (FixMatch §4.1: B = 64; SPICE keeps it, §IV-B).
    """

    def __init__(self, ctx: BuildContext, labeler: str = "reliable", batch_size: int = 64) -> None:
        del ctx
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.labeler, self.batch_size = labeler, batch_size

    def steps_per_epoch(self, ctx: LoopContext) -> int:
        """One step per main batch."""
        return len(ctx.index_batches(ctx.config.batch_size, 0))

    def epoch(self, ctx: LoopContext, epoch: int) -> Iterator[dict[str, float]]:
        """Labelled batch + main batch → supervision (labels kept on the labelled rows) → step."""
        names = sorted(set(ctx.labeler_views()) | set(ctx.loss_views()))
        labelled = LabelledBatches(lambda index: ctx.views(index, names), ctx.dataset_supervision[self.labeler].mask,
                                   self.batch_size, ctx.rank, ctx.world_size, seed=ctx.seed + epoch)
        for index in ctx.index_batches(ctx.config.batch_size, epoch):
            batch = labelled.join(ctx.views(index, names))
            supervision = ctx.supervision(batch)
            supervision[self.labeler] = keep_labelled_rows(supervision[self.labeler], batch["labelled"])
            yield ctx.train_step(batch, supervision)


def check_labelled_loop(stage: StageConfig, labelers: Mapping[str, PseudoLabelerSpec]) -> str | None:
    """The stream's labeler must be one of the stage's dataset-scope labelers producing labels and mask."""
    key = stage.loop.params["labeler"]
    spec = labelers.get(key)
    if spec is None or spec.scope != "dataset" or not {"labels", "mask"} <= spec.produces:
        return (f"the labelled stream needs '{key}' to be one of the stage's dataset-scope labelers producing "
                f"labels and mask")
    return None
