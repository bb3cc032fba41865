"""Seeds and random states: python, numpy, torch (CPU and CUDA)."""
from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; faiss and samplers take ``seed`` explicitly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


MAX_SEED = 2**63 - 1
"""The largest run seed (torch takes a 64-bit seed; stage seeds are derived into 0…2**63 - 1)."""


def stage_seed(seed: int, stage: str) -> int:
    """The seed of stage ``stage`` of a run seeded ``seed``: the same whether the stage is computed, loaded
    from the stage cache or resumed, and independent of the stages before it."""
    digest = hashlib.sha256(f"{seed}:{stage}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & MAX_SEED


def rng_state() -> dict[str, Any]:
    """Every generator's state, as tensors and plain values (loadable with ``weights_only``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": list(random.getstate()[1]) + [random.getstate()[0]],
        "python_gauss": random.getstate()[2],
        "numpy": torch.from_numpy(keys.astype(np.int64)),
        "numpy_rest": [kind, pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    *internal, version = state["python"]
    random.setstate((version, tuple(internal), state["python_gauss"]))
    kind, pos, has_gauss, cached = state["numpy_rest"]
    np.random.set_state((kind, state["numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
