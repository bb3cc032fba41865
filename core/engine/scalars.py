"""The metrics channel: scalars any component logs, averaged per epoch into the run's records.

A component logs through its build context, ``ctx.log("mask_rate", value)``;
the engine names the value after the component's slot (``<loss key>/mask_rate``,
``representation/...``, ``assignment/...``) and adds the mean of the epoch's
values to the epoch record, so it reaches ``metrics.jsonl``, the progress line
and the report's curves.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from torch import Tensor


class ScalarLog:
    """Sums and counts of logged scalars by name, until drained."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, value: float | Tensor) -> None:
        """Record one value of ``name`` (a number or a one-element tensor; non-finite values are kept as NaN)."""
        number = float(value.detach()) if isinstance(value, Tensor) else float(value)
        self.sums[name] = self.sums.get(name, 0.0) + (number if math.isfinite(number) else math.nan)
        self.counts[name] = self.counts.get(name, 0) + 1

    def prefixed(self, prefix: str) -> Callable[[str, float | Tensor], None]:
        """A ``log(name, value)`` that records under ``prefix/name``."""
        return lambda name, value: self.add(f"{prefix}/{name}", value)

    def drain(self) -> dict[str, float]:
        """The mean of each name's values since the last drain, then forget them."""
        means = {name: total / self.counts[name] for name, total in sorted(self.sums.items())}
        self.sums.clear()
        self.counts.clear()
        return means
