"""Equal-compute budgets: scale a recipe's epochs so that its run fits a wall-time or step budget.

A calibration (:meth:`clust_core.runner.Runner.calibrate`) measures on this machine, per stage, the
seconds of an optimiser step, of what a loop does before each outer batch's steps (DCCM's and SPICE's
labels of a large batch), of a refresh of the dataset-scope labelers and of an assignment pass.
:func:`fit_budget` then looks for the one factor f by which every training stage's epochs are
multiplied (so the ratios between stages stay) that fills the budget. A step that the calibration could not
see becoming dearer (JULE's, as its clusters merge and batches hold more positive pairs) is caught at run
time: :func:`stage_deadlines` gives each stage the time at which its training stops. Periods of several epochs scale
with the epochs: a labeler refreshed ``every`` epochs and the evaluation interval keep their number of
periods (JULE's merging periods stay P + 1), while "every epoch" stays every epoch; a schedule defined
over the stage (cosine, inv, FixMatch's) keeps its shape because it spans the new number of steps.
Below one epoch a stage is cut at its share of one epoch's steps (``optimizer.max_steps``).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..config import RunConfig, StageConfig
from ..errors import ClustError

_UNITS = {"s": 1, "m": 60, "h": 3600}


@attrs.frozen
class Budget:
    """What a run may spend: wall seconds (``90s``, ``5m``, ``1h30m``) or optimiser steps (``2000steps``)."""

    text: str
    seconds: float | None = None
    steps: int | None = None


def parse_budget(text: str) -> Budget:
    """``5m``, ``90s``, ``1h30m``, ``2.5m`` or ``2000steps``.

    Raises:
        ClustError: on anything else (a bare number is refused: seconds or steps must be said).
    """
    value = text.strip().lower().replace(" ", "")
    steps = re.fullmatch(r"(\d+)steps?", value)
    if steps:
        if int(steps.group(1)) < 1:
            raise ClustError(f"--budget {text!r}: at least 1 step")
        return Budget(text, steps=int(steps.group(1)))
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ClustError(f"--budget {text!r}: expected wall time like 90s, 5m, 1h30m or steps like 2000steps")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ClustError(f"--budget {text!r}: must be more than 0 seconds")
    return Budget(text, seconds=seconds)


@attrs.frozen
class StageCost:
    """One stage's measured costs on this machine."""

    steps_per_epoch: int
    step_seconds: float
    refresh_seconds: float
    """One refresh of every dataset-scope labeler (with its pass over the images)."""
    assign_seconds: float
    """One pass over the clean images and the assignment's fit (at the end and at each evaluation)."""
    refresh_every: tuple[int, ...] = ()
    """``every`` of each dataset-scope labeler (0: computed once)."""
    outer_seconds: float = 0.0
    """What a loop does before the steps of one outer batch (labels it), beyond a step's time."""
    outer_per_epoch: int = 0
    """The loop's outer batches per epoch (0: it has none)."""

    def seconds(self, stage: StageConfig) -> float:
        """Estimated seconds of ``stage`` as configured."""
        if not stage.epochs:
            return self.assign_seconds
        epochs = self._epochs_started(stage)
        refreshes = max((1 if every == 0 else math.ceil(epochs / every) for every in self.refresh_every), default=0)
        every = stage.evaluation.every
        evaluations = (epochs - 1) // every if every else 0
        return (self.steps(stage) * self.step_seconds + self.outer_started(stage) * self.outer_seconds
                + refreshes * self.refresh_seconds + (1 + evaluations) * self.assign_seconds)

    def outer_started(self, stage: StageConfig) -> int:
        """Outer batches the loop begins (and labels): all of each whole epoch's, and of a cut epoch those
        its steps reach into (the batches taken as equal shares of the epoch's steps)."""
        if not self.outer_per_epoch or not self.steps_per_epoch:
            return 0
        whole, rest = divmod(self.steps(stage), self.steps_per_epoch)
        return whole * self.outer_per_epoch + math.ceil(rest * self.outer_per_epoch / self.steps_per_epoch)

    def steps(self, stage: StageConfig) -> int:
        return stage.total_steps(self.steps_per_epoch)

    def _epochs_started(self, stage: StageConfig) -> int:
        """Epochs the trainer begins: all of them, or as many as ``optimizer.max_steps`` reaches into."""
        if not self.steps_per_epoch:
            return stage.epochs
        return min(stage.epochs, math.ceil(self.steps(stage) / self.steps_per_epoch))


def _scaled_every(every: int, epochs: int, new_epochs: int) -> int:
    """A period of several epochs keeps its number of periods; "every epoch" (1) and "once" (0) stay as they are."""
    return max(1, round(every * new_epochs / epochs)) if every > 1 else every


def scale_stage(stage: StageConfig, factor: float, steps_per_epoch: int = 0) -> StageConfig:
    """``stage`` with ``factor`` times its epochs; periods of several epochs keep their number.

    When the epochs are a whole number of a labeler's periods (JULE: ``every`` x (P + 1)), the new epochs
    are the same number of the new, shorter or longer periods. A labeler refreshed every epoch (SPICE's
    prototypes, DCCM's batch labelers) stays so and leaves the epochs free. Below one epoch, given
    ``steps_per_epoch``, the stage keeps one epoch cut at ``optimizer.max_steps`` = ``factor`` x its steps
    (at least 1); without it, one epoch is the floor. A ``max_steps`` set before scales with ``factor`` too.
    """
    if not stage.epochs:
        return stage
    scaled = _scaled_epochs(stage, factor)
    limit = stage.optimizer.max_steps
    steps = None if limit is None else max(1, round(limit * factor))
    if steps_per_epoch and scaled.epochs == 1:
        wanted = max(1, round(stage.total_steps(steps_per_epoch) * factor))
        if wanted < steps_per_epoch:
            steps = wanted if steps is None else min(steps, wanted)
    return attrs.evolve(scaled, optimizer=attrs.evolve(scaled.optimizer, max_steps=steps))


def _scaled_epochs(stage: StageConfig, factor: float) -> StageConfig:
    """Epochs times ``factor`` (at least 1), whole periods kept; labelers' and evaluation's periods follow."""
    epochs = max(1, round(stage.epochs * factor))
    periodic = [slot.every for slot in stage.labelers.values() if slot.every > 1]
    if periodic and stage.epochs % periodic[0] == 0:
        every = _scaled_every(periodic[0], stage.epochs, epochs)
        epochs = every * (stage.epochs // periodic[0])
    labelers = {key: attrs.evolve(slot, every=_scaled_every(slot.every, stage.epochs, epochs))
                for key, slot in stage.labelers.items()}
    evaluation = attrs.evolve(stage.evaluation,
                              every=min(epochs, _scaled_every(stage.evaluation.every, stage.epochs, epochs)))
    return attrs.evolve(stage, epochs=epochs, labelers=labelers, evaluation=evaluation)


def fit_budget(config: RunConfig, costs: Mapping[str, StageCost], budget: Budget,
               spent: float = 0.0) -> tuple[RunConfig, dict[str, Any]]:
    """The config whose training stages' epochs are scaled by the largest factor that fits ``budget``
    (less ``spent`` seconds, the calibration's), and the record of how (for config.toml and summary.json).

    When even one epoch of every training stage exceeds the budget, that is the schedule, and the record
    says so (``fits: false``).
    """
    def scaled_stages(factor: float) -> dict[str, StageConfig]:
        return {name: scale_stage(stage, factor, costs[name].steps_per_epoch if name in costs else 0)
                for name, stage in config.stages.items()}

    def total(factor: float) -> float:
        stages = scaled_stages(factor)
        if budget.steps is not None:
            return sum(costs[name].steps(stage) for name, stage in stages.items())
        return sum(costs[name].seconds(stage) for name, stage in stages.items())

    limit = budget.steps if budget.steps is not None else budget.seconds - spent
    low, high = 1e-6, 1e4
    if total(low) > limit:
        factor = low
    else:
        for _ in range(60):  # bisection on log f: total() only grows with f (epochs are rounded)
            middle = math.sqrt(low * high)
            low, high = (middle, high) if total(middle) <= limit else (low, middle)
        factor = low
    scaled = scaled_stages(factor)
    record = {
        "budget": budget.text,
        "unit": "steps" if budget.steps is not None else "seconds",
        "limit": budget.steps if budget.steps is not None else budget.seconds,
        "calibration_seconds": round(spent, 3),
        "factor": round(factor, 6),
        "estimated": round(total(factor), 3),
        "fits": total(factor) <= limit,
        "stages": {name: {"epochs": config.stages[name].epochs, "scaled_epochs": scaled[name].epochs,
                          "steps": cost.steps(config.stages[name]), "scaled_steps": cost.steps(scaled[name]),
                          "estimated_seconds": round(cost.seconds(scaled[name]), 3),
                          "steps_per_epoch": cost.steps_per_epoch, "step_seconds": round(cost.step_seconds, 6),
                          "refresh_seconds": round(cost.refresh_seconds, 4),
                          "assign_seconds": round(cost.assign_seconds, 4),
                          "outer_seconds": round(cost.outer_seconds, 4), "outer_per_epoch": cost.outer_per_epoch}
                   for name, cost in costs.items()},
    }
    return attrs.evolve(config, stages=scaled, budget=record), record


def stage_deadlines(record: Mapping[str, Any], start: float) -> dict[str, float]:
    """For a wall-time budget's ``record`` (:func:`fit_budget`) and the run's ``start`` (``time.perf_counter()``
    after the calibration), the time by which each training stage stops training: the budget's end less the
    estimated seconds of the stages after it and of its own final assignment. Empty for a step budget."""
    if record.get("unit") != "seconds" or any("estimated_seconds" not in s for s in record["stages"].values()):
        return {}  # a step budget, or the record of an older run that has no estimates
    end = start + float(record["limit"]) - float(record["calibration_seconds"])
    deadlines, later = {}, 0.0
    for name, stage in reversed(list(record["stages"].items())):
        if stage["scaled_epochs"]:
            deadlines[name] = end - later - stage["assign_seconds"]
        later += stage["estimated_seconds"]
    return deadlines
