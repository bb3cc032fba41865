"""The run directory: config snapshot, metrics log, checkpoints, assignments, summary."""
from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .components import Assignment
from .config import RunConfig
from .errors import ClustError
from .settings import from_dict, read_toml, write_toml

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
ASSIGNMENTS = "assignments.csv"
MODEL = "model.pt"
LAST_CHECKPOINT = Path("checkpoints") / "last.pt"


def new_run_dir(out: str | Path, recipe: str, dataset: str) -> Path:
    """Create ``out/<recipe>-<dataset>-<time>/`` (a suffix keeps earlier runs intact)."""
    slug = re.sub(r"[^A-Za-z0-9_.+-]+", "_", dataset.split(":", 1)[-1]).strip("_") or "data"
    base = Path(out) / f"{recipe}-{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ClustError(f"cannot write the run directory under {out}: {exc.strerror}") from None
    return path


def open_run_dir(path: str | Path) -> tuple[Path, RunConfig]:
    """An existing run directory and its resolved config."""
    run = Path(path)
    if not (run / CONFIG).is_file():
        raise ClustError(f"{run} is not a clust run directory (no {CONFIG})")
    return run, from_dict(read_toml(run / CONFIG))


def write_config(run: Path, config: RunConfig) -> None:
    """Write the resolved, reloadable config."""
    write_toml(config, run / CONFIG)


def append_metrics(run: Path, record: dict[str, Any]) -> None:
    """Append one JSON line to ``metrics.jsonl``."""
    with open(run / METRICS, "a") as handle:
        handle.write(json.dumps(record, default=float) + "\n")


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """Every record of ``metrics.jsonl`` (none when absent)."""
    path = run / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically."""
    _atomic_write(path, json.dumps(data, indent=2, default=float) + "\n")


def write_assignments(path: Path, assignment: Assignment, paths: Sequence[str] | None = None) -> None:
    """CSV of index (and source path when known), cluster, confidence."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "path", "cluster", "confidence"] if paths else ["index", "cluster", "confidence"])
        for i, (cluster, confidence) in enumerate(zip(assignment.labels, assignment.confidence)):
            row = [i, paths[i]] if paths else [i]
            writer.writerow([*row, int(cluster), f"{float(confidence):.6f}"])
    os.replace(handle.name, path)


def _atomic_write(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, path)
