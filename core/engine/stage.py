"""Resolve a stage's components against the registry and build them.

:func:`resolve_stage` runs before any training: it fills every slot's
parameters with the component's defaults and checks that what each component
needs is produced upstream (views exist, outputs are produced by the
representation, supervision by the named labeler, images fit the network).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch
from torch import nn

from ..augment import build_augmentation
from ..components import BuildContext, Loop, LoopSpec, LossSpec, PseudoLabelerSpec, RepresentationSpec
from ..config import StageConfig
from ..errors import ClustError
from ..registry import Registry
from .params import resolve_params
from .passes import inference_mode
from .schedules import Schedule, build_schedule


@attrs.define
class StageParts:
    """The built components of one stage."""

    name: str
    config: StageConfig
    representation: nn.Module
    labelers: dict[str, Callable[..., Any]]
    labeler_specs: dict[str, PseudoLabelerSpec]
    losses: dict[str, nn.Module]
    """The enabled loss terms, by key."""
    assignment: Any
    views: dict[str, Callable[[torch.Tensor], torch.Tensor]]
    produces: frozenset[str]
    """Outputs the representation produces."""
    assignment_needs: frozenset[str]
    loop: Loop
    """How an epoch becomes steps."""
    schedules: Mapping[str, Callable[..., Schedule]] = attrs.field(factory=dict)
    """The plugins' learning-rate schedules by name (core's are always there)."""


def view_transforms(registry: Registry, config: StageConfig, shape: tuple[int, int, int]) -> dict[str, Callable]:
    """Build each view's batched augmentation for images of ``shape`` (C, H, W)."""
    return {
        name: build_augmentation(view.augmentation, shape, registry.augmentations, **view.params)
        for name, view in config.views.items()
    }


def resolve_stage(registry: Registry, name: str, config: StageConfig, shape: tuple[int, int, int],
                  earlier: Mapping[str, StageConfig]) -> StageConfig:
    """Check a stage's mix of components and return it with every parameter filled in.

    Raises:
        ClustError: one line naming the first incompatibility found.
    """
    where = f"stage '{name}'"
    if "clean" not in config.views:
        raise ClustError(f"{where}: needs a 'clean' view (used for labels and assignment)")
    transforms = view_transforms(registry, config, shape)
    blank = torch.zeros((1, *shape), dtype=torch.uint8)
    view_shapes = {v: tuple(t(blank).shape[1:]) for v, t in transforms.items()}
    rep = registry.component("representation", config.representation.component)
    assert isinstance(rep, RepresentationSpec)
    for view, view_shape in view_shapes.items():
        problem = rep.accepts.problem(view_shape)
        if problem:
            raise ClustError(f"{where}: {rep.name} does not accept {problem} of view '{view}'")
    out = attrs.evolve(
        config,
        representation=_with_params(config.representation, rep, f"{name}.representation"),
        labelers={}, losses={},
    )
    labelers = {}
    for key, slot in config.labelers.items():
        spec = registry.component("pseudo_labeler", slot.component)
        _reads(spec, slot.views, rep, config, f"{where}: labeler '{key}' ({spec.name})")
        labelers[key] = spec
        out.labelers[key] = _with_params(slot, spec, f"{name}.labelers.{key}")
    for key, slot in config.losses.items():
        spec = registry.component("loss", slot.component)
        assert isinstance(spec, LossSpec)
        what = f"{where}: loss '{key}' ({spec.name})"
        _reads(spec, slot.views, rep, config, what)
        if spec.needs_supervision:
            if slot.supervision not in labelers:
                raise ClustError(f"{what} needs supervision {sorted(spec.needs_supervision)}: "
                                 f"set supervision to one of the stage's labelers {sorted(labelers) or '(none)'}")
            missing = spec.needs_supervision - labelers[slot.supervision].produces
            if missing:
                raise ClustError(f"{what} needs {sorted(missing)}, which labeler '{slot.supervision}' "
                                 f"({labelers[slot.supervision].name}) does not produce")
        out.losses[key] = _with_params(slot, spec, f"{name}.losses.{key}")
        if slot.adversary_optimizer is not None and slot.adversary_optimizer.schedule != "constant":
            raise ClustError(f"{what}: an adversary's optimizer keeps its base rate; its schedule must be "
                             f"'constant', got '{slot.adversary_optimizer.schedule}'")
    try:
        build_schedule(config.optimizer.schedule, 1, registry.schedules, **config.optimizer.schedule_params)
    except ClustError as exc:
        raise ClustError(f"{where}: {exc}") from None
    assignment = registry.component("assignment", config.assignment.component)
    _needs(assignment.needs, rep, f"{where}: assignment {assignment.name}")
    out.assignment = _with_params(config.assignment, assignment, f"{name}.assignment")
    if config.epochs and not any(slot.enabled for slot in config.losses.values()):
        raise ClustError(f"{where}: trains for {config.epochs} epochs but has no enabled loss")
    loop = registry.component("loop", config.loop.component)
    assert isinstance(loop, LoopSpec)
    out.loop = _with_params(config.loop, loop, f"{name}.loop")
    problem = loop.check(out, labelers) if loop.check is not None else None
    if problem:
        raise ClustError(f"{where}: loop {loop.name}: {problem}")
    if config.init_from is not None and config.init_from not in earlier:
        raise ClustError(f"{where}: init_from '{config.init_from}' is not an earlier stage ({', '.join(earlier) or 'none'})")
    return out


def _with_params(slot: Any, spec: Any, where: str) -> Any:
    return attrs.evolve(slot, params=resolve_params(spec, slot.params, where))


def _reads(spec: LossSpec | PseudoLabelerSpec, views: list[str], rep: RepresentationSpec, config: StageConfig,
           what: str) -> None:
    """A labeler or loss gets the outputs it needs, on as many views as it reads, each defined by the stage."""
    _needs(spec.needs, rep, what)
    if len(views) != spec.n_views:
        raise ClustError(f"{what} reads {spec.n_views} view(s), {len(views)} given: {views}")
    for view in views:
        _view_exists(view, config, what)


def _needs(needs: frozenset[str], rep: RepresentationSpec, what: str) -> None:
    missing = needs - rep.produces
    if missing:
        raise ClustError(f"{what} needs output {sorted(missing)}, which {rep.name} does not produce "
                         f"(it produces {sorted(rep.produces)})")


def _view_exists(view: str, config: StageConfig, what: str) -> None:
    if view not in config.views:
        raise ClustError(f"{what} reads view '{view}', which the stage does not define ({', '.join(config.views)})")


def build_stage(registry: Registry, name: str, config: StageConfig, ctx: BuildContext) -> StageParts:
    """Instantiate a resolved stage's components on ``ctx.device``."""
    def make(kind: str, slot: Any, context: BuildContext) -> Any:
        return registry.component(kind, slot.component).factory(context, **slot.params)

    rep_spec = registry.component("representation", config.representation.component)
    representation = make("representation", config.representation, ctx).to(ctx.device)
    views = view_transforms(registry, config, ctx.shape)
    ctx = attrs.evolve(ctx, outputs=output_shapes(representation, views["clean"], ctx))
    losses = {key: make("loss", slot, ctx).to(ctx.device) for key, slot in config.losses.items() if slot.enabled}
    return StageParts(
        name=name,
        config=config,
        representation=representation,
        labelers={key: make("pseudo_labeler", slot, ctx) for key, slot in config.labelers.items()},
        labeler_specs={key: registry.component("pseudo_labeler", s.component) for key, s in config.labelers.items()},
        losses=losses,
        assignment=make("assignment", config.assignment, ctx),
        views=views,
        produces=rep_spec.produces,
        assignment_needs=registry.component("assignment", config.assignment.component).needs,
        loop=make("loop", config.loop, ctx),
        schedules=registry.schedules,
    )


def output_shapes(representation: nn.Module, clean: Callable[[torch.Tensor], torch.Tensor],
                  ctx: BuildContext) -> dict[str, tuple[int, ...]]:
    """Each output's shape without the batch axis, from one forward of two blank clean-view images."""
    images = clean(torch.zeros((2, *ctx.shape), dtype=torch.uint8))
    with inference_mode(representation, "running"):
        outputs = representation(images.to(ctx.device))
    return {name: tuple(value.shape[1:]) for name, value in outputs.items()}
