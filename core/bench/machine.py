"""Where a bench ran: one line for ``table.md`` (CPU, usable cores, threads, GPU, versions, load)."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_line() -> str:
    """CPU, cores usable of all, torch threads, GPU (or none), Python and torch versions, load average."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    load = " / ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return (f"{cpu_model()}, {usable} of {os.cpu_count()} cores usable, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, GPU: {gpu}, Python {platform.python_version()}; load average "
            f"{load} (1/5/15 min) when this `clust bench` command started")
