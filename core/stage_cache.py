"""Reuse a finished stage across runs (SPICE's MoCo features): its result filed under a hash of what made it.

The fingerprint covers the configs of the stage and every stage before it
(except their ``cache`` setting), k, the seed and the image bytes; the file
holds the fingerprint, so a result made from another config or data is
refused instead of silently reused.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from .accelerate import load_checkpoint
from .config import RunConfig
from .data import ImageSet
from .errors import ClustError
from .settings import to_dict

CACHE_DIR_ENV = "CLUST_CACHE_DIR"
"""Where ``cache = "auto"`` files go; default ``~/.cache/clust/stages``."""


def stage_fingerprint(config: RunConfig, stage: str, images: ImageSet) -> str:
    """SHA-256 of the stages up to ``stage`` (cache settings left out), k, seed and the images."""
    names = list(config.stages)
    stages = {}
    for name in names[: names.index(stage) + 1]:
        settings = to_dict(config.stages[name])
        settings["representation"].pop("cache", None)
        stages[name] = settings
    digest = hashlib.sha256(images.images.tobytes())
    digest.update(repr(images.images.shape).encode())
    payload = {"stages": stages, "k": config.k, "seed": config.seed, "images": digest.hexdigest()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(setting: str, stage: str, fingerprint: str) -> Path:
    """The file for a stage's ``cache`` setting: ``auto`` names it by the fingerprint."""
    if setting == "auto":
        root = Path(os.environ.get(CACHE_DIR_ENV, "~/.cache/clust/stages")).expanduser()
        return root / f"{stage}-{fingerprint[:16]}.pt"
    return Path(setting).expanduser()


def load_cached_stage(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The cached result at ``path``, None when there is none yet.

    Raises:
        ClustError: When the file was made from another config or data, or cannot be read.
    """
    if not path.is_file():
        return None
    record = load_checkpoint(path)
    found = record.get("fingerprint") if isinstance(record, dict) else None
    if found != fingerprint:
        raise ClustError(f"stage cache {path} was made from another config or data (fingerprint "
                         f"{str(found)[:12]}…, this run {fingerprint[:12]}…): remove it or set another cache path")
    return record


STALE_SECONDS = 600.0
"""A temporary cache file untouched this long was left by a killed writer (a live one writes in seconds)."""


def remove_stale_temporaries(path: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Delete the temporary files of cache file ``path`` that a killed process left (untouched for ``older_than``
    seconds); the cache folder is shared by runs, so a younger one may belong to a live writer and stays."""
    removed = []
    now = time.time()
    for candidate in path.parent.glob(f"{path.name}.*.tmp") if path.parent.is_dir() else ():
        with contextlib.suppress(OSError):
            if now - candidate.stat().st_mtime > older_than:
                candidate.unlink()
                removed.append(candidate)
    return removed

