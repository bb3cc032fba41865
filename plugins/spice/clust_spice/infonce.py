"""SPICE stage 1: MoCo v2's InfoNCE loss over one positive key and a queue of negatives (paper §III-A, eq. 1).

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (``tools/train_moco.py``, ``moco/builder.py``; the CIFAR recipe in
``train.md``). MoCo v2: Chen et al. 2020, https://arxiv.org/abs/2003.04297.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext, Outputs, Supervision
from clust_core.errors import ClustError


def infonce(query: Tensor, key: Tensor, queue: Tensor, temperature: float) -> Tensor:
    """Mean over i of -log( exp(q_i.k_i / T) / (exp(q_i.k_i / T) + sum_j exp(q_i.n_j / T)) ), in float32.

    Args:
        query: B x d L2-normalised queries q.
        key: B x d L2-normalised positive keys k (no gradient flows into them).
        queue: Q x d L2-normalised negative keys n_j.
        temperature: T.
    """
    with torch.autocast(query.device.type, enabled=False):
        q = query.float()
        positive = (q * key.detach().float()).sum(dim=1, keepdim=True)
        negative = q @ queue.T
        logits = torch.cat([positive, negative], dim=1) / temperature
        return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def gather_keys(keys: Tensor) -> Tensor:
    """The keys of every rank, concatenated in rank order (``all_gather``), or ``keys`` on one process."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return keys
    parts = [torch.empty_like(keys) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, keys.contiguous())
    return torch.cat(parts)


class InfoNCE(nn.Module):
    """MoCo v2's contrastive loss: query of view 0 against the key of view 1 and a queue of old keys.

    In training mode each call then enqueues the (all-gathered) keys of view 1 in
    FIFO order, overwriting the oldest and wrapping around the end of the queue,
    so the queue size need not be a multiple of the batch size (MoCo asserts it is).

    Args:
        ctx: Build context; ``ctx.outputs["query"]`` gives the projection width.
        temperature: T of eq. 1 (code ``tools/train_moco.py`` ``--moco-t``: 0.2).
        queue_size: Number of negatives K (code: 12800 in the CIFAR recipe of ``train.md``, the
            ``--moco-k`` default 65536 for STL-10).
            Must be at least the number of keys one step enqueues.

    Attributes:
        queue: ``queue_size`` x d keys, initialised as random unit vectors (as MoCo).
        pointer: Row where the next keys go.
    """

    queue: Tensor
    pointer: Tensor

    def __init__(self, ctx: BuildContext, temperature: float = 0.2, queue_size: int = 12800) -> None:
        super().__init__()
        if "query" not in ctx.outputs:
            raise ClustError("the infonce loss needs a representation with a 'query' output (e.g. spice.moco)")
        if temperature <= 0 or queue_size < 1:
            raise ClustError(f"infonce needs temperature > 0 and queue_size >= 1, got {temperature} and {queue_size}")
        self.temperature = temperature
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, ctx.outputs["query"][0]), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    def forward(self, outputs: list[Outputs], supervision: Supervision | None = None) -> Tensor:
        del supervision
        query, key = outputs[0]["query"], outputs[1]["key"]
        loss = infonce(query, key, self.queue.clone(), self.temperature)
        if self.training:
            self._enqueue(gather_keys(key.detach()))
        return loss

    @torch.no_grad()
    def _enqueue(self, keys: Tensor) -> None:
        size = len(self.queue)
        if len(keys) > size:
            raise ClustError(f"infonce queue_size {size} is smaller than the {len(keys)} keys one step enqueues "
                             f"(batch size x processes): raise queue_size or lower the batch size")
        rows = (self.pointer + torch.arange(len(keys), device=self.queue.device)) % size
        self.queue[rows] = keys.to(self.queue.dtype)
        self.pointer.copy_((self.pointer + len(keys)) % size)
