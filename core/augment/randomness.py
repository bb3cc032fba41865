"""Per-sample random numbers that depend only on (key, sample index, draw number).

A batched view draws every random parameter per sample. To make a sample's
view independent of the batch it travels in (its size, order and other
members), the numbers are not taken from a sequential generator but hashed:
u = SplitMix64(key, index, counter) / 2^64 (Steele, Lea & Flood, "Fast
splittable pseudorandom number generators", OOPSLA 2014, doi:10.1145/2660193.2660195).
The ``key`` is drawn once per batch from torch's global generator, so
``torch.manual_seed`` reproduces a run and successive batches differ.
"""
from __future__ import annotations

import torch
from torch import Tensor

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_STREAM = 0xD1B54A32D192ED03


def _signed(value: int) -> int:
    """An unsigned 64-bit constant as the int64 with the same bits."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


def _shift_right(z: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64(z: Tensor) -> Tensor:
    """SplitMix64's finaliser on int64 tensors, wrapping modulo 2^64 like the uint64 original."""
    z = (z ^ _shift_right(z, 30)) * _signed(_MIX1)
    z = (z ^ _shift_right(z, 27)) * _signed(_MIX2)
    return z ^ _shift_right(z, 31)


def splitmix64_reference(value: int) -> int:
    """The same finaliser on a Python integer (the unsigned result): the oracle for tests."""
    z = value & _MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & _MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & _MASK64
    return z ^ (z >> 31)


def new_key() -> int:
    """A fresh 62-bit key from torch's global generator."""
    return int(torch.randint(0, 2**62, (1,)).item())


class SampleRandom:
    """Uniform numbers for a batch, one independent stream per sample.

    Each call to :meth:`uniform` advances a counter shared by the batch, so every
    sample makes the same sequence of draws and sample ``i``'s numbers depend
    only on ``(key, indices[i], counter)``.

    Args:
        key: The batch's key (any integer; reduced modulo 2^64).
        indices: int64 tensor (B,) identifying the samples (their dataset indices).
    """

    def __init__(self, key: int, indices: Tensor) -> None:
        self.key = _signed(key)
        self.indices = indices.to(torch.int64)
        self.counter = 0

    @classmethod
    def fresh(cls, batch: int, device: torch.device | str = "cpu") -> SampleRandom:
        """A new key from torch's generator for samples 0..batch-1."""
        return cls(new_key(), torch.arange(batch, device=device))

    @property
    def device(self) -> torch.device:
        """Where the numbers are made."""
        return self.indices.device

    def bits(self, n: int) -> Tensor:
        """(B, n) int64 tensor of 64 pseudo-random bits per entry."""
        counters = torch.arange(self.counter + 1, self.counter + n + 1, device=self.device, dtype=torch.int64)
        self.counter += n
        seeds = splitmix64(self.key + self.indices * _signed(_GOLDEN))
        return splitmix64(seeds[:, None] + counters[None, :] * _signed(_STREAM))

    def uniform(self, n: int = 1, low: float = 0.0, high: float = 1.0) -> Tensor:
        """(B, n) float64 tensor uniform in [low, high)."""
        u = _shift_right(self.bits(n), 11).to(torch.float64) * 2.0**-53
        return low + (high - low) * u

    def integers(self, low: int, high: int, n: int = 1) -> Tensor:
        """(B, n) int64 tensor uniform in low..high-1."""
        return (low + torch.floor(self.uniform(n) * (high - low))).to(torch.int64)

    def chance(self, p: float) -> Tensor:
        """(B,) bool tensor, True with probability p."""
        return self.uniform(1)[:, 0] < p

    def permutations(self, n: int) -> Tensor:
        """(B, n) int64 tensor: a uniformly random permutation of 0..n-1 per sample."""
        return torch.argsort(self.uniform(n), dim=1)
