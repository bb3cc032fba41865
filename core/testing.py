"""Test a plugin the way core tests its own: hermetic registries, tiny data, the conformance check.

In a plugin's tests: ``registry = registry_with(mine=clust_mine)``, then parametrise
a test over ``conformance_params(registry)`` that calls ``check_component(registry, name)``.
"""
import inspect
import io
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from unittest import mock

import attrs
import numpy as np
import torch
from PIL import Image

from .components import (Assignment, AssignmentSpec, BuildContext, ComponentSpec, Loop, LoopSpec, LossSpec, Outputs,
                         PseudoLabelerSpec, RepresentationSpec, Supervision, declared, signature_params)
from .config import Slot, StageConfig, ViewConfig
from .data import ImageSet
from .engine.stage import component_builder, component_params
from .engine.views import shuffled_batches
from .registry import Registry, load_registry


def registry_with(**plugins: ModuleType) -> Registry:
    """A registry of core plus ``plugins`` (name → module of ``@hookimpl`` functions), no installed plugin."""
    with mock.patch.dict(os.environ, {"CLUST_DISABLE_PLUGIN_AUTOLOAD": "1"}):
        return load_registry(extra=plugins)


def tiny_imageset(n: int = 64, shape: tuple[int, int, int] = (1, 8, 8), k: int = 4, seed: int = 0) -> ImageSet:
    """``n`` uint8 images of ``shape`` (C, H, W) in ``k`` balanced labelled classes, each a bright blob pattern."""
    rng = np.random.default_rng(seed)
    channels, height, width = shape
    patterns = rng.random((k, height, width, channels)) < 0.35
    labels = rng.permutation(np.arange(n) % k)
    pixels = 30 + 190 * patterns[labels] + rng.normal(0, 12, (n, height, width, channels))
    return ImageSet(np.clip(pixels, 0, 255).astype(np.uint8), labels=labels, name="tiny")


def tiny_image_folder(root: Path, n_per_class: int = 3, classes: tuple[str, ...] = ("a", "b"), size: int = 8,
                      flat: bool = False) -> Path:
    """Write grey ``size``×``size`` PNGs, one subfolder per class (or all in ``root`` if ``flat``); return ``root``."""
    images = tiny_imageset(n_per_class * len(classes), (1, size, size), len(classes))
    for i, (pixels, label) in enumerate(zip(images.images, images.labels)):
        path = root / f"{classes[label]}_{i:03d}.png" if flat else root / classes[label] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[..., 0], mode="L").save(path)
    return root


def conformance_params(registry: Registry) -> list[str]:
    """Every registered component's name, sorted, once (a name may serve several kinds)."""
    return sorted({name for table in registry.components.values() for name in table})


def _outputs(registry: Registry, needs: frozenset[str], ctx: BuildContext, grad: bool) -> Outputs:
    """``ctx.n`` samples of the outputs in ``needs``: synthesised, or from a representation making the rest."""
    gen = torch.Generator().manual_seed(ctx.seed)
    logits = torch.randn(ctx.n, ctx.k, generator=gen).requires_grad_(grad)
    made = {"logits": logits, "probs": logits.softmax(dim=1),
            "embedding": torch.randn(ctx.n, 16, generator=gen).requires_grad_(grad)}
    rest = needs - made.keys()
    if rest:
        reps = [s for s in registry.components["representation"].values()
                if rest <= declared(s.produces, s.params) and s.accepts.problem(ctx.shape) is None]
        assert reps, f"no registered representation produces {sorted(rest)} for {ctx.shape} images"
        rep = min(reps, key=lambda s: s.name != "core.convnet")
        with torch.set_grad_enabled(grad):
            made.update(rep.factory(ctx, **rep.params)(torch.rand(ctx.n, *ctx.shape, generator=gen)))
    return {key: made[key] for key in needs}


def _supervision(fields: frozenset[str], n: int, k: int) -> Supervision:
    """Supervision with only ``fields`` set: random labels, full mask, identity pairs, uniform targets, the next
    three images as neighbours."""
    values = {"labels": torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(0)),
              "mask": torch.ones(n, dtype=torch.bool), "targets": torch.full((n, k), 1.0 / k),
              "weights": torch.ones(n), "pairs": torch.eye(n), "triplets": torch.tensor([[0, 1, 2]]),
              "neighbours": (torch.arange(n)[:, None] + torch.arange(1, 4)[None, :]) % n}
    return Supervision(**{name: values[name] for name in fields})


def _scalar(value: object, what: str) -> torch.Tensor:
    assert isinstance(value, torch.Tensor) and value.ndim == 0, f"{what} must return a scalar tensor, got {value!r}"
    assert torch.isfinite(value), f"{what} returned a non-finite value {value.item()}"
    return value


def _check_representation(spec: RepresentationSpec, ctx: BuildContext, _registry: Registry) -> None:
    if spec.accepts.problem(ctx.shape) is not None:
        return
    out = spec.factory(ctx, **spec.params)(torch.rand(ctx.n, *ctx.shape))
    produces = declared(spec.produces, spec.params)
    assert isinstance(out, Mapping), f"{spec.name} must return a mapping of outputs, got {type(out).__name__}"
    assert produces <= out.keys(), f"{spec.name} declares {sorted(produces)} but returned {sorted(out)}"
    for key, value in out.items():
        assert isinstance(value, torch.Tensor) and len(value) == ctx.n, f"{spec.name}: '{key}' needs batch dim {ctx.n}"
        assert torch.isfinite(value).all(), f"{spec.name}: output '{key}' is not finite"


def _check_labeler(spec: PseudoLabelerSpec, ctx: BuildContext, registry: Registry) -> None:
    views = [_outputs(registry, declared(spec.needs, spec.params), ctx, grad=False) for _ in range(spec.n_views)]
    sup = spec.factory(ctx, **spec.params)(views[0] if spec.n_views == 1 else views)
    assert isinstance(sup, Supervision), f"{spec.name} must return a Supervision, got {type(sup).__name__}"
    produces = declared(spec.produces, spec.params)
    assert produces <= sup.fields, f"{spec.name} declares {sorted(produces)} but set {sorted(sup.fields)}"
    for field in sup.fields & {"labels", "mask", "targets", "weights"}:
        assert len(getattr(sup, field)) == ctx.n, f"{spec.name}: '{field}' does not have length {ctx.n}"


def _with_shapes(ctx: BuildContext, outputs: Outputs) -> BuildContext:
    """``ctx`` telling the component the shapes of ``outputs`` (as the engine does)."""
    return attrs.evolve(ctx, outputs={key: tuple(value.shape[1:]) for key, value in outputs.items()})


def _check_loss(spec: LossSpec, ctx: BuildContext, registry: Registry) -> None:
    views = [_outputs(registry, declared(spec.needs, spec.params), ctx, grad=True) for _ in range(spec.n_views)]
    loss = spec.factory(_with_shapes(ctx, views[0]), **spec.params)
    value = _scalar(loss(views, _supervision(declared(spec.needs_supervision, spec.params), ctx.n, ctx.k)), spec.name)
    assert value.requires_grad, f"{spec.name}: the loss does not require grad although its inputs do"
    value.backward()
    if getattr(loss, "adversary", None) is not None:
        detached = [{key: t.detach() for key, t in view.items()} for view in views]
        _scalar(loss.adversary.loss(detached), f"{spec.name}.adversary").backward()


def _check_assignment(spec: AssignmentSpec, ctx: BuildContext, registry: Registry) -> None:
    name, model = spec.name, spec.factory(ctx, **spec.params)
    outputs = _outputs(registry, declared(spec.needs, spec.params), ctx, grad=False)
    fitted = model.fit(outputs)
    assert isinstance(fitted, Assignment), f"{name}.fit must return an Assignment, got {type(fitted).__name__}"
    labels, confidence = np.asarray(fitted.labels), np.asarray(fitted.confidence)
    assert labels.shape == confidence.shape == (ctx.n,), f"{name}: labels and confidence need shape ({ctx.n},)"
    assert ((labels >= 0) & (labels < ctx.k)).all(), f"{name}: labels outside [0, {ctx.k}): {labels}"
    assert ((confidence >= 0) & (confidence <= 1)).all(), f"{name}: confidence outside [0, 1]: {confidence}"
    assert np.array_equal(model.predict(outputs).labels, labels), f"{name}: predict disagrees with fit"
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    fresh = spec.factory(ctx, **spec.params)
    fresh.load_state_dict(torch.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    assert np.array_equal(fresh.predict(outputs).labels, labels), f"{name}: state_dict does not round-trip"


class _RecordingLoopContext:
    """A :class:`~clust_core.components.LoopContext` over ``ctx.n`` random images that records each step.

    Views: ``clean`` (read by the batch labelers) and ``aug`` (read by the losses). Every string parameter of the
    loop is taken to name a dataset-scope labeler, which labels every other image.
    """

    def __init__(self, ctx: BuildContext, labelers: list[str]) -> None:
        self.config = StageConfig(representation=Slot("core.pixels"), assignment=Slot("core.kmeans"),
                                  views={"clean": ViewConfig(), "aug": ViewConfig("weak")}, batch_size=ctx.n // 4)
        self.n, self.rank, self.world_size, self.seed, self.shape = ctx.n, 0, 1, 0, ctx.shape
        labelled = torch.arange(ctx.n) % 2 == 0
        self.dataset_supervision = {key: Supervision(labels=torch.arange(ctx.n) % ctx.k, mask=labelled)
                                    for key in labelers}
        self.batches: list[dict[str, torch.Tensor]] = []

    def index_batches(self, batch_size: int, epoch: int, salt: int = 0) -> list[torch.Tensor]:
        return shuffled_batches(self.n, batch_size, 0, 1, seed=salt, epoch=epoch)

    def views(self, index: torch.Tensor, names) -> dict[str, torch.Tensor]:
        return {"index": index, **{name: torch.rand(len(index), *self.shape) for name in names}}

    def labeler_views(self) -> list[str]:
        return ["clean"]

    def loss_views(self) -> list[str]:
        return ["aug"]

    def supervision(self, batch) -> dict[str, Supervision]:
        return {key: value.take(batch["index"]) for key, value in self.dataset_supervision.items()}

    def train_step(self, batch, supervision) -> dict[str, float]:
        self.batches.append(dict(batch))
        return {"loss": float(len(self.batches))}


def _check_loop(spec: LoopSpec, ctx: BuildContext, registry: Registry) -> None:
    name, loop = spec.name, spec.factory(ctx, **spec.params)
    assert isinstance(loop, Loop), f"{name}: the factory must return a Loop (steps_per_epoch and epoch)"
    run = _RecordingLoopContext(ctx, [value for value in spec.params.values() if isinstance(value, str)])
    steps = loop.steps_per_epoch(run)
    records = list(loop.epoch(run, 0))
    assert len(records) == steps == len(run.batches), \
        f"{name}: steps_per_epoch says {steps}, the epoch took {len(run.batches)} steps and yielded {len(records)}"
    assert [r["loss"] for r in records] == [float(i) for i in range(1, steps + 1)], \
        f"{name}: an epoch must yield what train_step returned, once per step"
    for batch in run.batches:
        index = batch.get("index")
        assert index is not None and ((index >= 0) & (index < ctx.n)).all(), f"{name}: a step without valid indices"
        assert len(batch.get("aug", ())) == len(index), f"{name}: a step's loss view does not match its indices"


_CHECKS = {"representation": (_check_representation, 6), "pseudo_labeler": (_check_labeler, 20),
           "loss": (_check_loss, 6), "assignment": (_check_assignment, 20), "loop": (_check_loop, 64)}


def _check_params_match_the_factory(spec: ComponentSpec) -> None:
    """The declared defaults are the factory's own (unless it takes ``**params``): one default, one place."""
    parameters = inspect.signature(spec.factory).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    assert dict(spec.params) == signature_params(spec.factory), (
        f"{spec.name}: params {dict(spec.params)} differ from the factory's defaults "
        f"{signature_params(spec.factory)}; leave params out of the spec and keep the defaults in the signature")


def check_component(registry: Registry, name: str, shape: tuple[int, int, int] = (1, 8, 8), k: int = 4) -> None:
    """Check that every component called ``name`` keeps the contract of its kind.

    Its declared parameters must be its factory's defaults. A representation runs on 6 random ``shape`` (C, H, W) images, or is skipped if it does not accept them;
    a loss (6 samples), labeler or assignment (20) gets synthesised outputs for ``k`` clusters; a loop runs one
    epoch over 64 images against a recording context (its step count, what it yields, each step's batch).

    Raises:
        AssertionError: naming the component and what it got wrong (or that it is unknown).
    """
    kinds = [kind for kind, table in registry.components.items() if name in table]
    assert kinds, f"no registered component '{name}'"
    for kind in kinds:
        spec = registry.components[kind][name]
        _check_params_match_the_factory(spec)
        if spec.uses:  # the components it builds, resolved as the engine resolves them
            spec = attrs.evolve(spec, params=component_params(registry, spec, {}, name, shape))
        check, n = _CHECKS[kind]
        check(spec, BuildContext(shape=shape, k=k, n=n, dataset="tiny", builder=component_builder(registry)), registry)
