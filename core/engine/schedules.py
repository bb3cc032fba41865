"""Learning-rate schedules by name: ``factory(total_steps, **params)`` → multiplier of the base rate per step.

Core keeps the generic ones (``constant``, ``cosine``); methods register their
own through the ``clust_schedules`` hook.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ClustError

Schedule = Callable[[int], float]
"""The multiplier of the base learning rate after a number of optimiser steps."""


def constant(total_steps: int) -> Schedule:
    """1 at every step."""
    del total_steps
    return lambda step: 1.0


def cosine(total_steps: int) -> Schedule:
    """½(1 + cos(π·t/T)) over the stage's T steps (SGDR without restarts, Loshchilov & Hutter, ICLR 2017)."""
    span = max(total_steps, 1)
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, span) / span))


BUILTIN_SCHEDULES: dict[str, Callable[..., Schedule]] = {"constant": constant, "cosine": cosine}


def build_schedule(name: str, total_steps: int, registry: Mapping[str, Callable[..., Schedule]] | None = None,
                   **params: Any) -> Schedule:
    """The schedule ``name`` over ``total_steps`` with ``params``.

    Raises:
        ClustError: For an unknown schedule or parameter, or a bad parameter value.
    """
    factories = {**BUILTIN_SCHEDULES, **(registry or {})}
    if name not in factories:
        raise ClustError(f"unknown schedule {name!r}: known are {', '.join(sorted(factories))}")
    factory = factories[name]
    accepted = list(inspect.signature(factory).parameters)[1:]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ClustError(f"schedule {name} has no parameter {unknown[0]!r}: it takes {', '.join(accepted) or 'none'}")
    try:
        schedule = factory(total_steps, **params)
        schedule(0)
    except (TypeError, ValueError) as exc:
        raise ClustError(f"bad parameter for schedule {name}: {exc}") from None
    return schedule
