"""Early stopping on an epoch metric (:class:`~clust_core.config.StopRule`)."""
from __future__ import annotations

import math
from typing import Any

from ..config import StopRule
from ..errors import ClustError


class EarlyStop:
    """Counts epochs without an improvement of ``min_delta`` in the watched metric."""

    def __init__(self, rule: StopRule | None) -> None:
        self.rule = rule
        self.best = math.inf
        self.stale = 0
        self.seen = 0

    def should_stop(self, record: dict[str, Any]) -> bool:
        """Update with an epoch record; True once ``patience`` epochs passed without improvement."""
        if self.rule is None:
            return False
        if self.rule.metric not in record:
            raise ClustError(f"stop rule watches '{self.rule.metric}', which the epoch record lacks "
                             f"(it has: {', '.join(sorted(record))})")
        self.seen += 1
        if self.seen <= self.rule.warmup:
            return False
        value = float(record[self.rule.metric])
        score = {"min": value, "max": -value, "abs_min": abs(value)}[self.rule.mode]
        if score < self.best - self.rule.min_delta:
            self.best, self.stale = score, 0
        else:
            self.stale += 1
        return self.stale >= self.rule.patience

    def state_dict(self) -> dict[str, float]:
        """Best score, stale-epoch and epoch counts, for checkpoints."""
        return {"best": self.best, "stale": self.stale, "seen": self.seen}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore :meth:`state_dict`."""
        self.best, self.stale, self.seen = float(state["best"]), int(state["stale"]), int(state["seen"])
