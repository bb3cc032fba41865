"""One bench cell (recipe × dataset × K × seed): its folder, its ``clust run`` process, its result row.

Each cell runs ``clust run`` in a process of its own, with a stage cache of its own (so no cell
is timed on a stage another one computed), and ends with ``cell.json`` in its folder: the run's
summary and timing, or the error that stopped it. A cell with ``cell.json`` is finished and is
not run again; an interrupted cell leaves none and starts over on the next bench.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from .. import runs
from ..resolve import AUTO
from ..stage_cache import CACHE_DIR_ENV

RESULT = "cell.json"
LOG = "log.txt"


@attrs.frozen
class Cell:
    """What one run of the bench computes."""

    recipe: str
    """A recipe or plugin name, as ``clust run --plugin`` takes it."""
    dataset: str
    """A dataset spec, as ``clust run --dataset`` takes it."""
    label: str
    """The dataset's short name in tables (``usps`` for ``npz:…/usps.npz``)."""
    seed: int
    k: int | str | None = None
    """Number of clusters; None: the number of labels (the papers' protocol); ``auto``: estimated."""
    sets: tuple[str, ...] = ()
    """``--set`` overrides of this cell's run."""
    extra: tuple[str, ...] = ()
    """Further ``clust run`` options every cell gets (``--device cpu``)."""
    budget: str | None = None
    """``clust run --budget``: the epochs scaled to this wall time or step count."""

    @property
    def name(self) -> str:
        """The folder name: readable keys and a digest of everything that changes the result."""
        keys = json.dumps([self.dataset, self.sets, self.extra, self.budget])
        digest = hashlib.sha256(keys.encode()).hexdigest()[:8]
        k = "k-labels" if self.k is None else f"k{self.k}"  # k10, kauto
        return f"{runs.file_slug(self.recipe)}--{runs.file_slug(self.label)}--{k}--seed{self.seed}--{digest}"

    def command(self, out: Path) -> list[str]:
        """The ``clust run`` command line of this cell, writing its run directory under ``out``."""
        command = [sys.executable, "-m", "clust_core.cli", "run", "--plugin", self.recipe, "--dataset", self.dataset,
                   "--seed", str(self.seed), "--out", str(out)]
        if self.k is not None:
            command += ["--k", str(self.k)]
        if self.budget is not None:
            command += ["--budget", self.budget]
        for item in self.sets:
            command += ["--set", item]
        return command + list(self.extra)


def dataset_label(spec: str) -> str:
    """A short name for a dataset spec: its file or folder stem (``npz:a/usps.npz`` → ``usps``)."""
    kind, _, rest = spec.partition(":")
    if not rest:
        return spec
    parts = [Path(part.rstrip("/")).name for part in rest.split("+")]
    return "+".join(re.sub(r"\.npz$", "", part) for part in parts) or kind


def finished(cell_dir: Path) -> dict[str, Any] | None:
    """The cell's result when it has finished (successfully or not), else None."""
    path = cell_dir / RESULT
    if not path.is_file():
        return None
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if row.get("status") == "ok" and "budget_fits" not in row:  # a cell of an older bench: from its summary
        summary = Path(row["run_dir"]) / runs.SUMMARY
        row["budget_fits"] = (json.loads(summary.read_text()).get("budget") or {}).get("fits") \
            if summary.is_file() else None
    return row


def run_cell(cell: Cell, cell_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cell`` in its own process and write its result; returns it.

    Raises:
        KeyboardInterrupt: the bench was interrupted (the cell's folder is removed, so it runs again).
    """
    if cell_dir.exists():
        shutil.rmtree(cell_dir)
    cell_dir.mkdir(parents=True)
    command = cell.command(cell_dir / "run")
    environment = {**(os.environ if env is None else env), CACHE_DIR_ENV: str(cell_dir / "stage-cache")}
    start = time.perf_counter()
    try:
        with open(cell_dir / LOG, "w") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment, check=False)
    except KeyboardInterrupt:
        shutil.rmtree(cell_dir, ignore_errors=True)
        raise
    wall = time.perf_counter() - start
    if done.returncode == 130:  # the run was interrupted (Ctrl-C reaches the whole process group)
        shutil.rmtree(cell_dir, ignore_errors=True)
        raise KeyboardInterrupt
    result = _result(cell, cell_dir, done.returncode, wall)
    shutil.rmtree(cell_dir / "stage-cache", ignore_errors=True)
    runs.write_json(cell_dir / RESULT, result)
    return result


def _result(cell: Cell, cell_dir: Path, code: int, wall: float) -> dict[str, Any]:
    """The cell's row: the run's summary and step count, or its error line."""
    row: dict[str, Any] = {"recipe": cell.recipe, "dataset": cell.label, "dataset_spec": cell.dataset,
                           "seed": cell.seed, "k_source": k_source(cell.k),
                           "budget": cell.budget or "",
                           "sets": list(cell.sets), "wall_seconds": round(wall, 3),
                           "command": " ".join(["clust", *cell.command(Path("OUT"))[3:]])}
    summaries = sorted((cell_dir / "run").glob(f"*/{runs.SUMMARY}"))
    if code == 0 and summaries:
        summary = json.loads(summaries[-1].read_text())
        run_dir = summaries[-1].parent
        return {**row, "status": "ok", "error": "", "run_dir": str(run_dir), "steps": count_steps(run_dir),
                "budget_fits": (summary.get("budget") or {}).get("fits"),
                **{key: summary.get(key) for key in ("acc", "nmi", "nmi_average", "ari", "acc_many_to_one", "k",
                                                      "clusters_found", "seconds", "versions")}}
    return {**row, "status": "failed", "k": cell.k, "error": error_line(cell_dir / LOG, code)}


def k_source(k: int | str | None) -> str:
    """Where a cell's K comes from: ``labels`` (their number), ``estimate`` (``--k auto``) or ``user``."""
    return "labels" if k is None else "estimate" if k == AUTO else "user"


def count_steps(run_dir: Path) -> int:
    """Optimiser steps the run took: each stage's last recorded step (a cached stage took none)."""
    last: dict[str, int] = {}
    for record in runs.read_metrics(run_dir):
        if "step" in record:
            last[record["stage"]] = max(last.get(record["stage"], 0), int(record["step"]))
    return sum(last.values())


def error_line(log: Path, code: int) -> str:
    """The run's ``error:`` line, else its last line, with the exit code."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    errors = [line for line in lines if line.startswith("error:")]
    last = errors[-1] if errors else (lines[-1] if lines else "no output")
    return f"exit code {code}: {last}"[:500]


def plan(recipes: Sequence[str], datasets: Sequence[str], seeds: int, ks: Sequence[int | str | None],
         sets: dict[str, tuple[str, ...]], extra: tuple[str, ...] = (), budget: str | None = None) -> list[Cell]:
    """Every cell, dataset by dataset, then recipe, K and seed (so a partial bench fills whole columns first)."""
    labels = _unique_labels(datasets)
    return [Cell(recipe, dataset, labels[dataset], seed, k, sets.get("", ()) + sets.get(recipe, ()), extra, budget)
            for dataset in datasets for recipe in recipes for k in ks for seed in range(seeds)]


def _unique_labels(datasets: Sequence[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for spec in datasets:
        label, n = dataset_label(spec), 1
        while label in labels.values():
            n += 1
            label = f"{dataset_label(spec)}-{n}"
        labels[spec] = label
    return labels
