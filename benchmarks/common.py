"""Helpers shared by the benchmark scripts: dataset paths, machine description, markdown output."""
from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from clust_core.bench.machine import cpu_model

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"
"""The shared benchmark archives (``../shared/datasets`` beside the repository); never copied in."""

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def dataset_path(name: str) -> Path:
    """Path of ``<name>.npz`` in :data:`DATA_DIR`; exits with code 2 and one line when it is missing."""
    path = DATA_DIR / f"{name}.npz"
    if not path.is_file():
        print(f"error: dataset {name!r} not found at {path} (see shared/datasets/README.md)", file=sys.stderr)
        raise SystemExit(2)
    return path


def load_average() -> str:
    """The 1/5/15-minute load averages as text."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_pressure() -> str:
    """CPU pressure stall information ("some" avg10/avg60: % of time runnable tasks waited for a CPU)."""
    try:
        fields = dict(item.split("=") for item in Path("/proc/pressure/cpu").read_text().split()[1:3])
    except (OSError, ValueError):
        return "unavailable"
    return f"{fields['avg10']}% / {fields['avg60']}%"


def machine_load() -> str:
    """Load averages and CPU pressure: how much other work competed for the cores."""
    return f"load average {load_average()} (1/5/15 min), CPU pressure {cpu_pressure()} (PSI some avg10/avg60)"


def machine_rows() -> list[tuple[str, str]]:
    """(field, value) rows describing the machine and library versions."""
    import numpy
    import torch
    import faiss  # after torch, as the DESIGN asks

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        ("CPU", cpu_model()),
        ("cores (usable / total)", f"{usable} / {os.cpu_count()}"),
        ("torch threads / faiss OpenMP threads", f"{torch.get_num_threads()} / {faiss.omp_get_max_threads()}"),
        ("python", platform.python_version()),
        ("torch", torch.__version__),
        ("faiss", faiss.__version__),
        ("numpy", numpy.__version__),
        ("machine load at start", machine_load()),
    ]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def command_line() -> str:
    """The command that ran this process, with the interpreter relative to the working directory."""
    python = sys.executable
    if Path(python).is_relative_to(Path.cwd()):
        python = os.path.relpath(python)
    return shlex.join([python, *sys.argv])


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return statistics.median(values)


def write_report(path: Path, title: str, sections: Sequence[str]) -> None:
    """Write a markdown results file: title, the command that made it, then the sections."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"# {title}\n\nCommand (from the repository root):\n\n```\n{command_line()}\n```\n\n"
    path.write_text(text + "\n\n".join(sections) + "\n")
    print(f"\nwritten {path}")


def kmeans_scores(name: str) -> tuple[str, str, str, str]:
    """The ``kmeans`` recipe (seed 0) on ``<name>.npz``: ACC, NMI, ARI (4 decimals) and seconds (1 decimal)."""
    import time

    from clust_core import Clusterer
    start = time.perf_counter()
    metrics = Clusterer(plugin="kmeans", seed=0, report=False).fit(f"npz:{dataset_path(name)}").metrics_
    return (f"{metrics['acc']:.4f}", f"{metrics['nmi']:.4f}", f"{metrics['ari']:.4f}",
            f"{time.perf_counter() - start:.1f}")

