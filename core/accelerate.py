"""A small interface over where training runs: CPU, one GPU, or torchrun DDP.

The loop talks only to :class:`Accelerator`; the plain-torch one here covers
CPU, a single CUDA device and ``torchrun`` (``torch.distributed`` with NCCL on
GPUs, gloo on the CPU). Gradients are averaged across ranks after each
backward; buffers (BatchNorm statistics) follow rank 0.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .errors import ClustError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → the local CUDA device if there is one, else CPU; otherwise a torch device name."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ClustError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ClustError(f"device '{name}' asked for, but no CUDA device is available")
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    if device.type == "cuda" and device.index >= torch.cuda.device_count():
        raise ClustError(f"device '{name}' asked for, but there are only {torch.cuda.device_count()} CUDA devices")
    if device.type not in ("cpu", "cuda"):
        raise ClustError(f"device '{name}' is not supported (use auto, cpu, cuda or cuda:N)")
    return device


class Accelerator:
    """Rank, world size, device, mixed precision and collectives for one process."""

    def __init__(self, device: str = "auto") -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = resolve_device(device, self.local_rank)

    @property
    def distributed(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and shows progress."""
        return self.rank == 0

    def setup(self) -> None:
        """Join the process group when started by torchrun."""
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.distributed and not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend, rank=self.rank, world_size=self.world_size)

    def teardown(self) -> None:
        """Leave the process group."""
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def autocast(self, enabled: bool) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA when ``enabled``; a no-op on the CPU."""
        if enabled and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def backward(self, loss: Tensor, parameters: Iterable[nn.Parameter]) -> None:
        """Backpropagate ``loss`` and average the gradients of ``parameters`` over ranks."""
        loss.backward()
        if self.distributed:
            grads = [p.grad for p in parameters if p.grad is not None]
            if grads:
                flat = torch.cat([g.reshape(-1) for g in grads])
                dist.all_reduce(flat)
                flat /= self.world_size
                offset = 0
                for g in grads:
                    g.copy_(flat[offset: offset + g.numel()].view_as(g))
                    offset += g.numel()

    def sync_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
        if self.distributed:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    def all_gather(self, tensor: Tensor) -> Tensor:
        """Concatenate equally sized tensors from every rank along dimension 0."""
        if not self.distributed:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (any picklable object)."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.distributed:
            dist.barrier()

    def save(self, state: dict[str, Any], path: Path) -> None:
        """Rank 0 writes ``state`` atomically; every rank waits for it."""
        if self.is_main:
            save_checkpoint(state, path)
        self.barrier()


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` with ``torch.save`` atomically (temporary file, then rename).

    A write that fails or is interrupted (Ctrl-C, SIGTERM) removes its temporary file; one left by a killed
    process is removed when the run directory is next locked (:func:`clust_core.runs.locked`).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp", delete=False)
    except OSError as exc:
        raise ClustError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with handle:
            torch.save(state, handle)
        os.replace(handle.name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        if isinstance(exc, OSError):
            raise ClustError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU with ``weights_only=True``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on a damaged file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ClustError(f"cannot load checkpoint {path}: {first}") from None


@contextlib.contextmanager
def accelerator_session(device: str = "auto") -> Iterator[Accelerator]:
    """An :class:`Accelerator` set up for the duration of a ``with`` block."""
    accelerator = Accelerator(device)
    accelerator.setup()
    try:
        yield accelerator
    finally:
        accelerator.teardown()
