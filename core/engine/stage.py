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
from ..components import (BuildContext, ComponentSpec, Loop, LoopSpec, LossSpec, PseudoLabelerSpec,
                          RepresentationSpec, Uses, declared)
from ..config import StageConfig
from ..errors import ClustError
from ..registry import Registry
from .params import resolve_params
from .passes import inference_mode
from .scalars import ScalarLog
from .schedules import Schedule, build_schedule


@attrs.define
class StageParts:
    """The built components of one stage."""

    name: str
    config: StageConfig
    representation: nn.Module
    labelers: dict[str, Callable[..., Any]]
    labeler_specs: dict[str, PseudoLabelerSpec]
    labeler_needs: dict[str, frozenset[str]]
    """Outputs each labeler reads, for its params."""
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
    scalars: ScalarLog = attrs.field(factory=ScalarLog)
    """What the components logged through ``ctx.log`` since the last record."""


def view_transforms(registry: Registry, config: StageConfig, shape: tuple[int, int, int]) -> dict[str, Callable]:
    """Build each view's batched augmentation for images of ``shape`` (C, H, W)."""
    return {
        name: build_augmentation(view.augmentation, shape, registry.augmentations, **view.params)
        for name, view in config.views.items()
    }


def resolve_stage(registry: Registry, name: str, config: StageConfig, shape: tuple[int, int, int],
                  earlier: Mapping[str, StageConfig]) -> StageConfig:
    """Check a stage's mix of components and return it with every parameter filled in.

    Each slot's params are resolved first (defaults, types, components named by ``uses``); what a
    component needs and produces is then read for those params.

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
    resolve = _Resolver(registry, shape)
    out = attrs.evolve(config, representation=resolve.slot(config.representation, rep, f"{name}.representation"),
                       labelers={}, losses={})
    made = _Produced(rep.name, declared(rep.produces, out.representation.params))
    labelers: dict[str, PseudoLabelerSpec] = {}
    labeler_fields: dict[str, frozenset[str]] = {}
    for key, slot in config.labelers.items():
        spec = registry.component("pseudo_labeler", slot.component)
        out.labelers[key] = resolve.slot(slot, spec, f"{name}.labelers.{key}")
        params = out.labelers[key].params
        _reads(spec, declared(spec.needs, params), slot.views, made, config, f"{where}: labeler '{key}' ({spec.name})")
        labelers[key], labeler_fields[key] = spec, declared(spec.produces, params)
    for key, slot in config.losses.items():
        spec = registry.component("loss", slot.component)
        assert isinstance(spec, LossSpec)
        what = f"{where}: loss '{key}' ({spec.name})"
        out.losses[key] = resolve.slot(slot, spec, f"{name}.losses.{key}")
        params = out.losses[key].params
        _reads(spec, declared(spec.needs, params), slot.views, made, config, what)
        wanted = declared(spec.needs_supervision, params)
        if wanted:
            if slot.supervision not in labelers:
                raise ClustError(f"{what} needs supervision {sorted(wanted)}: "
                                 f"set supervision to one of the stage's labelers {sorted(labelers) or '(none)'}")
            missing = wanted - labeler_fields[slot.supervision]
            if missing:
                raise ClustError(f"{what} needs {sorted(missing)}, which labeler '{slot.supervision}' "
                                 f"({labelers[slot.supervision].name}) does not produce")
        if slot.adversary_optimizer is not None and slot.adversary_optimizer.schedule != "constant":
            raise ClustError(f"{what}: an adversary's optimizer keeps its base rate; its schedule must be "
                             f"'constant', got '{slot.adversary_optimizer.schedule}'")
    _neighbour_views(config, labelers, labeler_fields, where)
    try:
        build_schedule(config.optimizer.schedule, 1, registry.schedules, **config.optimizer.schedule_params)
    except ClustError as exc:
        raise ClustError(f"{where}: {exc}") from None
    assignment = registry.component("assignment", config.assignment.component)
    out.assignment = resolve.slot(config.assignment, assignment, f"{name}.assignment")
    made.check(declared(assignment.needs, out.assignment.params), f"{where}: assignment {assignment.name}")
    if config.epochs and not any(slot.enabled for slot in config.losses.values()):
        raise ClustError(f"{where}: trains for {config.epochs} epochs but has no enabled loss")
    loop = registry.component("loop", config.loop.component)
    assert isinstance(loop, LoopSpec)
    out.loop = resolve.slot(config.loop, loop, f"{name}.loop")
    problem = loop.check(out, labelers) if loop.check is not None else None
    if problem:
        raise ClustError(f"{where}: loop {loop.name}: {problem}")
    source = config.representation.init_from
    if source is not None and source not in earlier:
        raise ClustError(f"{where}: representation.init_from '{source}' is not an earlier stage "
                         f"({', '.join(earlier) or 'none'})")
    return out


@attrs.frozen
class _Produced:
    """The outputs a stage's representation produces, and the check that a reader finds what it needs."""

    name: str
    outputs: frozenset[str]

    def check(self, needs: frozenset[str], what: str) -> None:
        missing = needs - self.outputs
        if missing:
            raise ClustError(f"{what} needs output {sorted(missing)}, which {self.name} does not produce "
                             f"(it produces {sorted(self.outputs)})")


@attrs.frozen
class _Resolver:
    """Fills in a slot's params: defaults, types, and the components its ``uses`` params name (recursively)."""

    registry: Registry
    shape: tuple[int, int, int]

    def slot(self, slot: Any, spec: ComponentSpec, where: str) -> Any:
        return attrs.evolve(slot, params=self.params(spec, slot.params, where))

    def params(self, spec: ComponentSpec, given: Mapping[str, Any], where: str) -> dict[str, Any]:
        params = resolve_params(spec, given, where)
        for name, use in spec.uses.items():
            params[name] = self.used(use, params[name], f"{where}.params.{name}")
        return params

    def used(self, use: Uses, value: Any, where: str) -> dict[str, Any]:
        table = {"component": value} if isinstance(value, str) else value
        if not (isinstance(table, Mapping) and isinstance(table.get("component"), str)
                and set(table) <= {"component", "params"} and isinstance(table.get("params", {}), Mapping)):
            raise ClustError(f"{where}: expected a {use.kind.replace('_', '-')} as NAME or "
                             f"{{component = NAME, params = {{...}}}}, got {value!r}")
        try:
            spec = self.registry.component(use.kind, table["component"])
        except ClustError as exc:
            raise ClustError(f"{where}: {exc}") from None
        params = self.params(spec, table.get("params", {}), where)
        if isinstance(spec, RepresentationSpec):
            problem = spec.accepts.problem(self.shape)
            if problem:
                raise ClustError(f"{where}: {spec.name} does not accept {problem}")
            _Produced(spec.name, declared(spec.produces, params)).check(use.needs, where)
        return {"component": spec.name, "params": params}


def component_params(registry: Registry, spec: ComponentSpec, given: Mapping[str, Any], where: str,
                     shape: tuple[int, int, int]) -> dict[str, Any]:
    """Every parameter of ``spec`` for ``given``, with the components its ``uses`` name resolved and checked."""
    return _Resolver(registry, shape).params(spec, given, where)


def component_builder(registry: Registry) -> Callable[[str, Mapping[str, Any], BuildContext], Any]:
    """What :meth:`BuildContext.build` calls: the factory of ``slot["component"]`` with its resolved params."""
    def build(kind: str, slot: Mapping[str, Any], context: BuildContext) -> Any:
        return registry.component(kind, slot["component"]).factory(context, **slot["params"])
    return build


def _reads(spec: LossSpec | PseudoLabelerSpec, needs: frozenset[str], views: list[str], made: _Produced,
           config: StageConfig, what: str) -> None:
    """A labeler or loss gets the outputs it needs, on as many views as it reads, each defined by the stage."""
    made.check(needs, what)
    if len(views) != spec.n_views:
        raise ClustError(f"{what} reads {spec.n_views} view(s), {len(views)} given: {views}")
    for view in views:
        _view_exists(view, config, what)


def _neighbour_views(config: StageConfig, labelers: Mapping[str, PseudoLabelerSpec],
                     fields: Mapping[str, frozenset[str]], where: str) -> None:
    """A view ``of`` a labeler needs a dataset-scope labeler of the stage publishing ``neighbours``."""
    for view, setting in config.views.items():
        if setting.of is None:
            continue
        spec = labelers.get(setting.of)
        if spec is None or spec.scope != "dataset" or "neighbours" not in fields[setting.of]:
            raise ClustError(f"{where}: view '{view}' is of the neighbours of '{setting.of}', which must be one of "
                             f"the stage's dataset-scope labelers producing neighbours")
        if view == "clean":
            raise ClustError(f"{where}: the 'clean' view shows the image itself; name the neighbour view otherwise")


def _view_exists(view: str, config: StageConfig, what: str) -> None:
    if view not in config.views:
        raise ClustError(f"{what} reads view '{view}', which the stage does not define ({', '.join(config.views)})")


def build_stage(registry: Registry, name: str, config: StageConfig, ctx: BuildContext) -> StageParts:
    """Instantiate a resolved stage's components on ``ctx.device``."""
    build = component_builder(registry)

    scalars = ScalarLog()

    def make(kind: str, slot: Any, context: BuildContext, key: str) -> Any:
        logged = attrs.evolve(context, log=scalars.prefixed(key))
        return build(kind, {"component": slot.component, "params": slot.params}, logged)

    ctx = attrs.evolve(ctx, builder=build)
    rep_spec = registry.component("representation", config.representation.component)
    representation = make("representation", config.representation, ctx, "representation").to(ctx.device)
    views = view_transforms(registry, config, ctx.shape)
    ctx = attrs.evolve(ctx, outputs=output_shapes(representation, views["clean"], ctx))
    losses = {key: make("loss", slot, ctx, key).to(ctx.device) for key, slot in config.losses.items() if slot.enabled}
    return StageParts(
        name=name,
        config=config,
        representation=representation,
        labelers={key: make("pseudo_labeler", slot, ctx, key) for key, slot in config.labelers.items()},
        labeler_specs={key: registry.component("pseudo_labeler", s.component) for key, s in config.labelers.items()},
        labeler_needs={key: declared(registry.component("pseudo_labeler", s.component).needs, s.params)
                       for key, s in config.labelers.items()},
        losses=losses,
        assignment=make("assignment", config.assignment, ctx, "assignment"),
        views=views,
        produces=declared(rep_spec.produces, config.representation.params),
        assignment_needs=declared(registry.component("assignment", config.assignment.component).needs,
                                  config.assignment.params),
        loop=make("loop", config.loop, ctx, "loop"),
        schedules=registry.schedules,
        scalars=scalars,
    )


def output_shapes(representation: nn.Module, clean: Callable[[torch.Tensor], torch.Tensor],
                  ctx: BuildContext) -> dict[str, tuple[int, ...]]:
    """Each output's shape without the batch axis, from one forward of two blank clean-view images."""
    images = clean(torch.zeros((2, *ctx.shape), dtype=torch.uint8))
    with inference_mode(representation, "running"):
        outputs = representation(images.to(ctx.device))
    return {name: tuple(value.shape[1:]) for name, value in outputs.items()}
