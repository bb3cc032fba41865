"""The component kinds and the data that flows between them.

A *representation* maps an image batch to named outputs; a *pseudo-labeler*
turns outputs into :class:`Supervision`; a *loss* maps outputs plus
supervision to a scalar and may own an :class:`Adversary`; an *assignment*
maps dataset-level outputs to an :class:`Assignment`; a *loop* turns one epoch
of a stage into optimiser steps through a :class:`LoopContext`. Each is
registered through a spec class below, whose ``factory(ctx, **params)`` builds it.
"""
from __future__ import annotations

import inspect

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import attrs
import numpy as np
import torch
from torch import Tensor, nn

Outputs = Mapping[str, Tensor]
"""Named outputs of a representation for one view (``embedding``, ``probs``, taps…)."""

Scope = Literal["batch", "dataset"]
Declared = frozenset[str] | Callable[[Mapping[str, Any]], frozenset[str]]
"""Names of outputs or supervision fields a component needs or produces: fixed, or computed from its params."""
SUPERVISION_FIELDS = frozenset({"labels", "mask", "targets", "weights", "pairs", "triplets", "neighbours"})


@attrs.frozen
class BuildContext:
    """What a factory may know about the run when it builds a component."""

    shape: tuple[int, int, int]
    """Input image shape (C, H, W)."""
    k: int
    """Number of clusters."""
    n: int
    """Number of images in the dataset."""
    dataset: str
    device: torch.device = torch.device("cpu")
    seed: int = 0
    outputs: Mapping[str, tuple[int, ...]] = attrs.field(factory=dict)
    """Shape (without the batch axis) of each representation output on the clean view; filled in
    for the stage's labelers, losses and assignment, so they can size their own modules."""
    builder: Callable[[str, Mapping[str, Any], BuildContext], Any] | None = attrs.field(
        default=None, eq=False, repr=False)
    """Builds a registered component (set by the engine; use :meth:`build`)."""
    log: Callable[[str, float | Tensor], None] = attrs.field(default=lambda name, value: None, eq=False,
                                                            repr=False)
    """``log(name, value)``: report a scalar (a number or a one-element tensor) to the run. The engine averages
    a component's values per epoch into the record as ``<its slot>/<name>`` (``metrics.jsonl``, the progress
    line, the report's curves)."""

    def build(self, kind: str, slot: Mapping[str, Any]) -> Any:
        """Build the registered component of ``kind`` that ``slot`` names with this context.

        ``slot`` is the value of a parameter the spec declares in ``uses``: by the time the factory runs it is
        ``{"component": full name, "params": every parameter}``, resolved and checked before training.
        """
        if self.builder is None:
            raise RuntimeError("this build context has no registry to build components from")
        return self.builder(kind, slot, self)


def declared(names: Declared, params: Mapping[str, Any]) -> frozenset[str]:
    """The names a component declares, for its resolved ``params``."""
    return frozenset(names(params)) if callable(names) else frozenset(names)


@attrs.frozen
class Uses:
    """A parameter whose value names another registered component, which the factory builds with
    :meth:`BuildContext.build` (composition: heads over any backbone).

    The value is a table ``{component = NAME, params = {...}}`` or just ``NAME``; before training the
    engine checks that the component exists and is of ``kind``, fills in and checks its params, and,
    for a representation, that it accepts the images and produces ``needs``.
    """

    kind: str
    needs: frozenset[str] = frozenset()


@attrs.frozen
class InputSpec:
    """Images a representation accepts: channel counts and a square-size range."""

    channels: tuple[int, ...] = (1, 3)
    min_size: int = 1
    max_size: int | None = None

    def problem(self, shape: tuple[int, int, int]) -> str | None:
        """Return why ``shape`` (C, H, W) is not accepted, or None when it is."""
        c, h, w = shape
        if c not in self.channels:
            return f"{c}-channel images (accepts {'/'.join(map(str, self.channels))} channels)"
        if min(h, w) < self.min_size or (self.max_size is not None and max(h, w) > self.max_size):
            top = self.max_size if self.max_size is not None else "any"
            return f"{h}x{w} images (accepts sizes {self.min_size}..{top})"
        return None


@attrs.frozen
class Supervision:
    """Targets a pseudo-labeler gives a loss; every field is optional.

    Per-sample fields (``labels``, ``mask``, ``targets``, ``weights``,
    ``neighbours``) index like the batch or dataset they were computed on;
    ``pairs`` (B×B) and ``triplets`` (T×3 positions) only make sense at batch scope.
    ``neighbours`` (N×k, dataset scope) holds each image's k mined neighbours as
    dataset indices: a view declared ``of`` this labeler shows, for every image
    of a batch, a neighbour drawn from its row (memory O(N·k), no pair matrix).
    """

    labels: Tensor | None = None
    mask: Tensor | None = None
    targets: Tensor | None = None
    weights: Tensor | None = None
    pairs: Tensor | None = None
    triplets: Tensor | None = None
    neighbours: Tensor | None = None

    @property
    def fields(self) -> frozenset[str]:
        """Names of the fields that are set."""
        return frozenset(f.name for f in attrs.fields(Supervision) if getattr(self, f.name) is not None)

    def take(self, positions: Tensor) -> Supervision:
        """Restrict to the samples at ``positions`` (a sub-batch or a batch of a dataset)."""
        pos = positions.to(torch.long)
        per_sample = {
            name: None if value is None else value[pos.to(value.device)]
            for name, value in (("labels", self.labels), ("mask", self.mask), ("targets", self.targets),
                                ("weights", self.weights), ("neighbours", self.neighbours))
        }
        pairs = None if self.pairs is None else self.pairs[pos][:, pos]
        return Supervision(**per_sample, pairs=pairs, triplets=_remap_triplets(self.triplets, pos))

    def to(self, device: torch.device) -> Supervision:
        """Move every set field to ``device``."""
        return Supervision(**{f: None if v is None else v.to(device) for f, v in attrs.asdict(self, recurse=False).items()})


def _remap_triplets(triplets: Tensor | None, positions: Tensor) -> Tensor | None:
    """Keep triplets whose three members are all in ``positions``, renumbered."""
    if triplets is None:
        return None
    lookup = torch.full((int(max(triplets.max(), positions.max())) + 1,), -1, dtype=torch.long)
    lookup[positions.cpu()] = torch.arange(len(positions))
    mapped = lookup[triplets.cpu()]
    return mapped[(mapped >= 0).all(dim=1)].to(triplets.device)


@attrs.frozen
class Assignment:
    """Final cluster of each image with a confidence in [0, 1]."""

    labels: np.ndarray
    confidence: np.ndarray


@runtime_checkable
class Adversary(Protocol):
    """A module a loss trains against (critic, discriminator) with its own optimiser.

    The engine takes ``steps`` optimiser steps on :meth:`loss` per main step,
    each on a fresh batch when ``fresh_batch`` is true (DCCS's n_critic = 4).
    """

    module: nn.Module
    steps: int
    fresh_batch: bool

    def loss(self, outputs: list[Outputs]) -> Tensor:
        """The adversary's own objective on detached representation outputs."""


@runtime_checkable
class AssignmentModel(Protocol):
    """Fitted on dataset-level outputs, then applied to new outputs."""

    def fit(self, outputs: Outputs) -> Assignment:
        """Fit on the whole dataset's outputs and return its assignment."""

    def predict(self, outputs: Outputs) -> Assignment:
        """Assign new outputs with what :meth:`fit` learnt."""

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`predict` needs, as tensors and plain values."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


@attrs.frozen(kw_only=True)
class ComponentSpec:
    """Common part of every component spec.

    ``params`` maps each hyperparameter to its default (the paper's value);
    its type is the default's type (None accepts anything). Left out, they are
    the keyword parameters of ``factory`` after the build context, with their
    defaults: write each default once, in the factory's signature, with its
    source next to it. Give ``params`` only for a factory taking ``**params``.
    The registry prefixes ``name`` with the plugin's name.
    """

    name: str
    factory: Callable[..., Any]
    params: Mapping[str, Any] = attrs.field(default=None)
    doc: str = ""
    kind: str = "component"
    uses: Mapping[str, Uses] = attrs.field(factory=dict)
    """Parameters naming other registered components the factory builds (see :class:`Uses`)."""

    def __attrs_post_init__(self) -> None:
        if self.params is None:
            object.__setattr__(self, "params", signature_params(self.factory))


def signature_params(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword parameters of ``factory`` after its first (the build context), with their defaults.

    Raises:
        TypeError: When one of them has no default (nothing could fill it in).
    """
    parameters = list(inspect.signature(factory).parameters.values())[1:]
    named = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    missing = [p.name for p in named if p.default is p.empty]
    if missing:
        raise TypeError(f"factory {getattr(factory, '__name__', factory)!r} has parameters without a default: "
                        f"{', '.join(missing)}")
    return {p.name: p.default for p in named}


@attrs.frozen(kw_only=True)
class RepresentationSpec(ComponentSpec):
    """A network: ``factory(ctx, **params) -> nn.Module`` whose forward returns a dict.

    ``needs``/``produces`` of every spec may be a function of the resolved params (see :data:`Declared`).
    """

    produces: Declared
    accepts: InputSpec = InputSpec()
    kind: str = "representation"


@attrs.frozen(kw_only=True)
class PseudoLabelerSpec(ComponentSpec):
    """``factory(ctx, **params) -> callable(outputs) -> Supervision``.

    With ``n_views > 1`` the callable receives a list of outputs, one per view in the slot's order.
    """

    needs: Declared
    produces: Declared
    scope: Scope = "batch"
    n_views: int = 1
    kind: str = "pseudo_labeler"


@attrs.frozen(kw_only=True)
class LossSpec(ComponentSpec):
    """``factory(ctx, **params) -> nn.Module`` called as ``loss(outputs_per_view, supervision)``.

    ``n_views`` is how many views it reads (in the slot's order); the module
    may expose an ``adversary`` attribute (an :class:`Adversary`).
    """

    needs: Declared
    needs_supervision: Declared = frozenset()
    n_views: int = 1
    kind: str = "loss"


@attrs.frozen(kw_only=True)
class AssignmentSpec(ComponentSpec):
    """``factory(ctx, **params) -> AssignmentModel``."""

    needs: Declared
    kind: str = "assignment"


class LoopContext(Protocol):
    """What core gives a loop: the stage's views, supervision and one optimiser step.

    Core's trainer implements it; a loop reads nothing else of the run. Index
    batches follow the run's seed and, under DDP, this rank's share of the data.
    """

    config: Any
    """The stage's resolved :class:`~clust_core.config.StageConfig`."""
    n: int
    """Number of images in the dataset."""
    dataset_supervision: Mapping[str, Supervision]
    """The dataset-scope labelers' last supervision over all images, by labeler key."""

    def index_batches(self, batch_size: int, epoch: int, salt: int = 0) -> list[Tensor]:
        """This rank's shuffled batches of image indices for ``epoch`` (``salt`` gives another stream)."""

    def views(self, index: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """The named views of the images ``index`` (each with its own random draw), plus ``index``."""

    def labeler_views(self) -> list[str]:
        """Views the stage's batch-scope labelers read."""

    def loss_views(self) -> list[str]:
        """Views the stage's losses read."""

    def supervision(self, batch: Mapping[str, Tensor]) -> dict[str, Supervision]:
        """Every labeler's supervision for ``batch``: batch-scope labelers run on it, dataset-scope ones are
        restricted to its ``index``."""

    def train_step(self, batch: Mapping[str, Tensor], supervision: Mapping[str, Supervision]) -> dict[str, float]:
        """One training step on ``batch`` (the loss views): adversary steps, the weighted loss terms under
        autocast, a non-finite check, backward, optimiser and schedule step, ``after_step`` callbacks.
        Returns the step's terms (``loss``, ``loss/<key>``, ``adversary/<key>``)."""


@runtime_checkable
class Loop(Protocol):
    """How one epoch of a stage becomes optimiser steps."""

    def steps_per_epoch(self, ctx: LoopContext) -> int:
        """Optimiser steps :meth:`epoch` takes (sizes the learning-rate schedule and the progress bar)."""

    def epoch(self, ctx: LoopContext, epoch: int) -> Iterator[dict[str, float]]:
        """Train one epoch, yielding each step's terms as :meth:`LoopContext.train_step` returns them."""

    # Optional: ``outer_batches(ctx) -> int``, how many times an epoch the loop does work of its own before a
    # run of steps (labelling an outer batch); a budget's calibration charges the first step's excess over
    # the later steps' once per such batch (:func:`outer_batches`). Without it, the first step is averaged in.


def outer_batches(loop: Loop, ctx: LoopContext) -> int:
    """The loop's outer batches per epoch (``loop.outer_batches(ctx)`` where it defines one, else 0)."""
    count = getattr(loop, "outer_batches", None)
    return int(count(ctx)) if callable(count) else 0


@attrs.frozen(kw_only=True)
class LoopSpec(ComponentSpec):
    """``factory(ctx, **params) -> Loop``.

    ``check(stage, labelers)`` (optional) returns why the loop cannot train the
    resolved ``stage`` whose labelers have the specs ``labelers`` (by key), or None.
    """

    check: Callable[[Any, Mapping[str, PseudoLabelerSpec]], str | None] | None = None
    kind: str = "loop"


KINDS: dict[str, type[ComponentSpec]] = {
    "representation": RepresentationSpec,
    "pseudo_labeler": PseudoLabelerSpec,
    "loss": LossSpec,
    "assignment": AssignmentSpec,
    "loop": LoopSpec,
}
