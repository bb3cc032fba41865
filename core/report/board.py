"""Optional TensorBoard logging: every numeric value of the run's records, when ``tensorboard`` is installed.

The records are the ones ``metrics.jsonl`` holds; each number is written as the
scalar ``<stage>/<key>`` at the record's optimiser ``step`` (or its position in
the run when it has none) under ``RUN/tensorboard``. Without the package nothing
is written and nothing is imported.
"""
from __future__ import annotations

import importlib.util
import numbers
from pathlib import Path
from typing import Any

BOARD_DIR = "tensorboard"


def available() -> bool:
    """Whether the ``tensorboard`` package is installed."""
    return importlib.util.find_spec("tensorboard") is not None


class Board:
    """Writes records to ``run_dir/tensorboard`` once the first one arrives (none without tensorboard)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir, self.writer, self.count, self.enabled = run_dir, None, 0, available()

    def write(self, record: dict[str, Any]) -> None:
        """Add every numeric value of ``record`` (bools left out) as ``<stage>/<key>``."""
        if not self.enabled:
            return
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.run_dir / BOARD_DIR))
        self.count += 1
        step = record.get("step", self.count)
        stage = record.get("stage", "run")
        for key, value in record.items():
            if key not in ("stage", "step") and isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(f"{stage}/{key}", float(value), int(step))

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
