"""The labelled stream of semi-supervised training (FixMatch): batches of the images a labeler labels.

Each main batch gets ``batch_size`` labelled images in front of it, drawn in a
fresh random order per pass over the labelled set (FixMatch's separate
labelled loader); in the labeler's supervision only these rows stay labelled.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ..accelerate import Accelerator
from ..components import Supervision
from ..errors import ClustError
from .views import ViewService, shuffled_batches


class LabelledBatches:
    """Endless shuffled batches of the images where ``mask`` is set, joined in front of main batches.

    Raises:
        ClustError: When the labeler labelled no image.
    """

    def __init__(self, views: ViewService, mask: Tensor, batch_size: int, accelerator: Accelerator,
                 *, seed: int) -> None:
        self.indices = torch.nonzero(mask.cpu(), as_tuple=True)[0]
        if not len(self.indices):
            raise ClustError("the labelled stream is empty: its labeler kept no image (lower its threshold)")
        self.views, self.acc, self.seed, self.batch_size = views, accelerator, seed, batch_size
        self.batches = self._cycle()

    def _cycle(self) -> Iterator[dict[str, Tensor]]:
        rounds = 0
        while True:
            for positions in shuffled_batches(len(self.indices), self.batch_size, self.acc.rank,
                                              self.acc.world_size, seed=self.seed, epoch=rounds):
                yield self.views.batch(self.indices[positions])
            rounds += 1

    def join(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
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
