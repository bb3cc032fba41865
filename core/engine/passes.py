"""Dataset-level passes: a representation's outputs for every image, gathered across ranks."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn

from ..accelerate import Accelerator
from .views import ViewService, ordered_batches


@contextlib.contextmanager
def inference_mode(module: nn.Module, batchnorm: str) -> Iterator[None]:
    """Evaluation mode; with ``batchnorm="batch"`` BatchNorm normalises with batch statistics.

    In that case the running statistics are restored afterwards, so a pass
    never changes the model.
    """
    was_training = module.training
    buffers = {k: b.clone() for k, b in module.named_buffers()}
    module.eval()
    if batchnorm == "batch":
        for layer in module.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                layer.train()
    try:
        with torch.no_grad():
            yield
    finally:
        for key, buffer in module.named_buffers():
            buffer.copy_(buffers[key])
        module.train(was_training)


def dataset_outputs(representation: nn.Module, views: ViewService, accelerator: Accelerator, *, view: str,
                    names: Iterable[str], batch_size: int, batchnorm: str = "running",
                    amp: bool = False) -> dict[str, Tensor]:
    """Outputs ``names`` of ``representation`` on ``view`` of every image, on the CPU, in index order.

    Each rank computes its shard; shards are gathered and de-duplicated by
    index (the distributed sampler pads by repeating images).
    """
    shard = ordered_batches(views.n, batch_size, accelerator.rank, accelerator.world_size)
    wanted = sorted(set(names))
    chunks: dict[str, list[Tensor]] = {name: [] for name in wanted}
    indices: list[Tensor] = []
    with inference_mode(representation, batchnorm), accelerator.autocast(amp):
        for batch in views.batches(shard, [view]):
            outputs = representation(batch[view])
            for name in wanted:
                chunks[name].append(outputs[name].float())
            indices.append(batch["index"].to(accelerator.device))
    index = accelerator.all_gather(torch.cat(indices))
    first = _first_occurrence(index)
    return {name: accelerator.all_gather(torch.cat(chunks[name]))[first].cpu() for name in wanted}


def _first_occurrence(index: Tensor) -> Tensor:
    """Position of each distinct index's first occurrence, in increasing index order."""
    unique, inverse = torch.unique(index, return_inverse=True)
    first = torch.full((len(unique),), len(index), dtype=torch.long, device=index.device)
    return first.scatter_reduce_(0, inverse, torch.arange(len(index), device=index.device), reduce="amin")
