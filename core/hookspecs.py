"""The whole plugin contract: every hook a clust plugin may implement.

A plugin is a module named by an entry point of the group
``clust_core.plugins``; the entry's name is the plugin's name (what
``clust run --plugin`` selects and the prefix of its components' names).
The module sets ``CLUST_HOOK_API = HOOK_API_VERSION`` and implements any of
the hooks below with ``@clust_core.hookimpl``. Hooks are called once, when the
registry loads; the training loop reads the typed registry, never the hooks.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .components import AssignmentSpec, LoopSpec, LossSpec, PseudoLabelerSpec, RepresentationSpec
    from .recipe import RecipeSpec

PROJECT = "clust"
HOOK_API_VERSION = 2
"""Bumped when a hook changes incompatibly; plugins declaring another value are refused.
2: stages name their training loop (``StageConfig.loop``, hook :func:`clust_loops`); ``inner`` and
``labelled`` left ``StageConfig``; schedules come from :func:`clust_schedules` with ``schedule_params``;
``StageConfig`` has ten fields (``init_from``/``cache`` on the representation slot, ``grad_clip``/``amp`` on the
optimiser, ``eval_every``/``batchnorm_eval``/``stop`` in ``evaluation``; the old names still load and ``--set``)."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def clust_representations() -> Iterable[RepresentationSpec]:
    """Networks: image batch → named outputs."""


@hookspec
def clust_pseudo_labelers() -> Iterable[PseudoLabelerSpec]:
    """Pseudo-label generators: outputs (batch or dataset) → supervision."""


@hookspec
def clust_losses() -> Iterable[LossSpec]:
    """Objectives: outputs + supervision → scalar, optionally with an adversary."""


@hookspec
def clust_assignments() -> Iterable[AssignmentSpec]:
    """Final assignments: dataset-level outputs → labels and confidences."""


@hookspec
def clust_loops() -> Iterable[LoopSpec]:
    """Training loops: how one epoch of a stage becomes optimiser steps."""


@hookspec
def clust_recipes() -> Iterable[RecipeSpec]:
    """Named methods: ordered stages built from components, with per-dataset defaults."""


@hookspec
def clust_augmentations() -> Mapping[str, Callable[..., Any]]:
    """Extra augmentation factories ``factory(shape, **params) -> view`` by name (a view maps a uint8 batch to floats)."""


@hookspec
def clust_schedules() -> Mapping[str, Callable[..., Callable[[int], float]]]:
    """Extra learning-rate schedules by name: ``factory(total_steps, **params)`` returns the multiplier of the
    base rate at each optimiser step."""


@hookspec
def clust_cli_commands(cli: click.Group) -> None:
    """Add subcommands to the ``clust`` command group."""
