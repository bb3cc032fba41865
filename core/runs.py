"""The run directory: config snapshot, metrics log, checkpoints, assignments, summary."""
from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import hashlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .components import Assignment
from .config import RunConfig
from .data import ImageSet
from .errors import ClustError
from .settings import from_dict, read_toml, to_dict, write_toml

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
ASSIGNMENTS = "assignments.csv"
MODEL = "model.pt"
LAST_CHECKPOINT = Path("checkpoints") / "last.pt"
LOCK = ".lock"
FINGERPRINT = "fingerprint.json"
"""What a run was started from (a hash of its images, their shape, plugin versions), checked by ``--resume``."""


def file_slug(text: str) -> str:
    """``text`` as a file-name part: runs of other characters than letters, digits and ``_.+-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_")


def new_run_dir(out: str | Path, recipe: str, dataset: str) -> Path:
    """Create ``out/<recipe>-<dataset>-<time>/`` (a suffix keeps earlier runs intact)."""
    slug = file_slug(dataset.split(":", 1)[-1]) or "data"
    out = Path(out).expanduser().absolute()
    base = out / f"{recipe}-{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
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
    """An existing run directory (as an absolute path) and its resolved config."""
    run = Path(path).expanduser().absolute()
    if not (run / CONFIG).is_file():
        raise ClustError(f"{run} is not a clust run directory (no {CONFIG})")
    return run, from_dict(read_toml(run / CONFIG))


def check_writable(run: Path) -> None:
    """Refuse a run directory (and its ``checkpoints/``) that cannot be written, before training starts."""
    for folder in (run, run / LAST_CHECKPOINT.parent):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise ClustError(f"cannot write to run directory {folder}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def locked(run: Path) -> Iterator[None]:
    """Hold ``RUN/.lock`` for a block: a second process (or a second resume) of the same run is refused.

    The lock is an ``flock`` on the file, which the system releases when the process ends however it ends,
    so a killed run never leaves a stale lock behind.
    """
    try:
        handle: IO[str] = open(run / LOCK, "a+")
    except OSError as exc:
        raise ClustError(f"cannot write to run directory {run}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise ClustError(f"run {run} is in use by {holder} (lock {run / LOCK}); wait for it to end") from None
        raise ClustError(f"cannot lock run directory {run}: {exc.strerror or exc}") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        remove_stale_temporaries(run)
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def remove_stale_temporaries(run: Path) -> list[Path]:
    """Delete ``*.tmp`` files a killed process left in the run directory (only call it holding the lock)."""
    removed = []
    for folder in (run, run / LAST_CHECKPOINT.parent):
        for path in folder.glob("*.tmp") if folder.is_dir() else ():
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def data_fingerprint(images: ImageSet) -> dict[str, Any]:
    """A hash of the images (and labels) with their number and shape."""
    digest = hashlib.sha256(images.images.tobytes())
    digest.update(repr(images.images.shape).encode())
    if images.labels is not None:
        digest.update(np.ascontiguousarray(images.labels).tobytes())
    return {"dataset": images.name, "n": images.n, "shape": list(images.shape), "sha256": digest.hexdigest()}


def write_fingerprint(run: Path, images: ImageSet, plugins: dict[str, str]) -> None:
    """Record what the run starts from, for ``--resume`` to check."""
    write_json(run / FINGERPRINT, {"data": data_fingerprint(images), "plugins": plugins})


def check_fingerprint(run: Path, images: ImageSet, plugins: dict[str, str]) -> None:
    """Refuse to resume ``run`` on other data or with other plugin versions than it started with."""
    path = run / FINGERPRINT
    if not path.is_file():
        return  # a run directory of an earlier version: nothing recorded to check
    try:
        recorded = json.loads(path.read_text())
        data, versions = recorded["data"], recorded["plugins"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClustError(f"cannot read {path}: {one_line_error(exc)}") from None
    now = data_fingerprint(images)
    if now["sha256"] != data.get("sha256"):
        raise ClustError(f"the data of run {run} changed since it started ({data.get('dataset')}: "
                         f"{data.get('n')} images of shape {tuple(data.get('shape', ()))} then, {now['n']} of "
                         f"{tuple(now['shape'])} now, other bytes): resume needs the same images")
    for name, version in sorted(versions.items()):
        if plugins.get(name) != version:
            raise ClustError(f"plugin '{name}' is {plugins.get(name) or 'not installed'} now, run {run} started "
                             f"with {version}: resume needs the same plugins (or start a new run)")


def one_line_error(exc: BaseException) -> str:
    """The first line of an exception's message, or its type."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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


def _components(config: RunConfig) -> dict[str, dict[str, str]]:
    return {name: {"representation": s.representation.component, "assignment": s.assignment.component,
                   "loop": s.loop.component,
                   **{f"labelers.{k}": v.component for k, v in s.labelers.items()},
                   **{f"losses.{k}": v.component for k, v in s.losses.items()}}
            for name, s in config.stages.items()}


def config_digest(config: RunConfig) -> str:
    """SHA-256 of what a checkpoint depends on: the stages, k, seed, data and recipe (not the device)."""
    data = {key: value for key, value in to_dict(config).items() if key not in ("device", "num_workers", "report")}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def checkpoint_meta(config: RunConfig) -> dict[str, Any]:
    """What a checkpoint records of its config, for :func:`check_checkpoint`."""
    return {"config": config_digest(config), "components": _components(config)}


def check_checkpoint(run: Path, state: dict[str, Any], config: RunConfig) -> None:
    """Refuse a checkpoint written under another config (``config.toml`` edited since) in one line."""
    meta = state.get("meta") if isinstance(state, dict) else None
    if not isinstance(meta, dict):
        return  # a checkpoint of an earlier version: the weights' shapes are still checked when loaded
    then, now = meta.get("components", {}), _components(config)
    for stage in sorted(set(then) | set(now)):
        if stage not in now or stage not in then:
            raise ClustError(f"{run / CONFIG} was edited since the checkpoint: stage '{stage}' is "
                             f"{'gone' if stage not in now else 'new'}; resume needs the config it was saved with")
        for slot in sorted(set(then[stage]) | set(now[stage])):
            if then[stage].get(slot) != now[stage].get(slot):
                raise ClustError(f"{run / CONFIG} was edited since the checkpoint: {stage}.{slot} is "
                                 f"{now[stage].get(slot)}, the checkpoint has {then[stage].get(slot)}; resume "
                                 "needs the config it was saved with")
    if meta.get("config") != config_digest(config):
        raise ClustError(f"{run / CONFIG} was edited since the checkpoint (settings differ); resume needs the "
                         "config it was saved with, or start a new run with --config")
