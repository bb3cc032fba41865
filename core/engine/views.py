"""Views for indices: uint8 images held on the training device, augmented a whole batch at once.

Every loop takes its images from here (through the trainer): plain epochs,
inner draws, a labelled stream, fresh adversary batches and dataset-level passes. The image
set is copied once to the device as uint8 when it takes at most
``DEVICE_BUDGET_BYTES`` (MNIST's 70,000 images are 55 MB, CIFAR-10's 60,000
are 184 MB); otherwise it stays in host memory and each batch is gathered
there and copied over. Each view of a batch draws its own key from torch's
generator, so views are reproducible under the run's seed, two views of one
image differ, and a sample's view does not depend on the rest of its batch.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import Tensor
from torch.utils.data.distributed import DistributedSampler

from ..augment import SampleRandom, View
from ..augment.randomness import new_key
from ..data import ImageSet

DEVICE_BUDGET_BYTES = 2 * 1024**3
"""Largest image set (uint8 bytes) copied whole to an accelerator."""


class ViewService:
    """Named views of the images at given indices, on one device.

    Args:
        images: The image set.
        views: View name -> a :class:`~clust_core.augment.View`, or any callable
            taking a uint8 B x C x H x W batch (a plugin's plain transform).
        device: Where batches are made and returned.
        budget_bytes: Largest image set held whole on the device; a larger one stays in host memory.
    """

    def __init__(self, images: ImageSet, views: Mapping[str, Callable[..., Tensor]], device: torch.device,
                 *, budget_bytes: int = DEVICE_BUDGET_BYTES) -> None:
        self.n, self.views, self.device = images.n, dict(views), torch.device(device)
        pixels = torch.from_numpy(images.images).permute(0, 3, 1, 2)
        self.resident = images.images.nbytes <= budget_bytes
        self.pixels = pixels.to(self.device) if self.resident else pixels

    def select(self, names: Sequence[str]) -> ViewService:
        """The same images with only the views ``names`` (sharing the stored pixels)."""
        other = copy.copy(self)
        other.views = {name: self.views[name] for name in names}
        return other

    def raw(self, index: Tensor) -> Tensor:
        """The uint8 images B x C x H x W at ``index``, on the device."""
        if self.resident:
            return self.pixels[index.to(self.device)]
        batch = self.pixels[index.cpu()].contiguous()
        if self.device.type == "cuda":
            batch = batch.pin_memory()
        return batch.to(self.device, non_blocking=True)

    def batch(self, index: Tensor, names: Sequence[str] | None = None) -> dict[str, Tensor]:
        """``{"index": index (CPU), name: view of the images, ...}`` for ``names`` (default: every view)."""
        images = self.raw(index)
        on_device = index.to(self.device)
        out: dict[str, Tensor] = {"index": index.cpu()}
        for name in self.views if names is None else names:
            view = self.views[name]
            out[name] = view(images, SampleRandom(new_key(), on_device)) if isinstance(view, View) else view(images)
        return out

    def batches(self, index_batches: Iterable[Tensor], names: Sequence[str] | None = None
                ) -> Iterator[dict[str, Tensor]]:
        """:meth:`batch` for each index batch."""
        for index in index_batches:
            yield self.batch(index, names)


def shuffled_batches(n: int, batch_size: int, rank: int, world_size: int, *, seed: int,
                     epoch: int) -> list[Tensor]:
    """This rank's index batches of one shuffled pass (DistributedSampler's order, padded to equal shards).

    The last short batch is dropped when the shard holds more than one batch.
    """
    sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                                 drop_last=False)
    sampler.set_epoch(epoch)
    order = torch.tensor(list(sampler), dtype=torch.int64)
    per_rank = max(1, batch_size // world_size)
    chunks = list(order.split(per_rank))
    if len(order) > per_rank and len(chunks[-1]) < per_rank:
        chunks = chunks[:-1]
    return chunks


def ordered_batches(n: int, batch_size: int, rank: int, world_size: int) -> list[Tensor]:
    """This rank's shard of 0..n-1 in order (DistributedSampler without shuffle), in batches."""
    sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False)
    return list(torch.tensor(list(sampler), dtype=torch.int64).split(batch_size))
