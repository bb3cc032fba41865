"""The resolved configuration of a run: what ``config.toml`` in a run directory holds.

A recipe fills :class:`StageConfig` objects with the paper's defaults; a TOML
file and ``--set key=value`` overrides change them (see :mod:`.overrides`).
"""
from __future__ import annotations

from typing import Any, Literal

import attrs

K_SOURCES = ("labels", "user", "estimate")
"""Where a run's number of clusters came from (``RunConfig.k_source``)."""


def _positive(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value}")


def _non_negative(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.define
class Slot:
    """A component chosen for a slot, with its hyperparameters (defaults come from its spec)."""

    component: str
    params: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class RepresentationSlot(Slot):
    """The network, and where its weights come from besides training: an earlier stage, or the stage cache."""

    init_from: str | None = None
    """Name of an earlier stage whose representation weights this stage starts from."""
    cache: str | None = None
    """Reuse the stage's trained representation (and its fitted assignment) across runs: ``auto`` (a file named
    by the hash of the stage's config and data under ``$CLUST_CACHE_DIR``, default ``~/.cache/clust/stages``) or
    a file path. A file made from another config or data is refused."""


def _representation_slot(slot: Slot) -> RepresentationSlot:
    """A plain :class:`Slot` given for a representation, as a :class:`RepresentationSlot`."""
    if isinstance(slot, RepresentationSlot) or not isinstance(slot, Slot):
        return slot
    return RepresentationSlot(slot.component, slot.params)


@attrs.define
class LabelerSlot(Slot):
    """A pseudo-labeler, the view(s) it reads and (dataset scope) how often it is refreshed."""

    view: str | list[str] = "clean"
    """The view it reads; a list for labelers reading several (SPICE's weak probabilities + clean embedding)."""
    every: int = attrs.field(default=1, validator=_non_negative)
    """Dataset scope: recompute every ``every`` epochs; 0 computes once, when the stage starts."""

    @property
    def views(self) -> list[str]:
        """The views read, as a list."""
        return [self.view] if isinstance(self.view, str) else list(self.view)


@attrs.define
class OptimizerConfig:
    """Optimiser and learning-rate schedule."""

    name: Literal["sgd", "adam", "rmsprop"] = "adam"
    lr: float = attrs.field(default=1e-3, validator=_positive)
    momentum: float = attrs.field(default=0.0, validator=_non_negative)
    nesterov: bool = False
    weight_decay: float = attrs.field(default=0.0, validator=_non_negative)
    betas: list[float] = attrs.field(factory=lambda: [0.9, 0.999])
    alpha: float = 0.99
    """RMSprop smoothing constant."""
    eps: float = 1e-8
    schedule: str = "constant"
    """Learning-rate schedule by name: core's ``constant`` or ``cosine`` (to 0 over the stage), or one a plugin
    registers (``clust plugins`` lists them)."""
    schedule_params: dict[str, Any] = attrs.field(factory=dict)
    """The schedule's parameters (its defaults otherwise)."""
    grad_clip: float | None = attrs.field(default=None, validator=_positive)
    """Clip the gradients' global norm to this before each step (none by default)."""
    amp: bool = True
    """Mixed precision (autocast and a gradient scaler) on CUDA devices; ignored on the CPU."""
    max_steps: int | None = attrs.field(default=None, validator=_positive)
    """Stop the stage after this many optimiser steps, the epoch under way cut short (``--budget`` sets it when
    even one epoch is too long); the schedule spans them. None trains every step of every epoch."""


@attrs.define
class LossSlot(Slot):
    """A loss term: its weight, the views it reads, the labeler it learns from."""

    weight: float = 1.0
    views: list[str] = attrs.field(factory=lambda: ["clean"])
    supervision: str | None = None
    """Key of the stage's labeler whose supervision this loss reads."""
    adversary_optimizer: OptimizerConfig | None = None
    """Optimiser of the loss's adversary, when it has one."""
    enabled: bool = True
    """False leaves the term out of training (ablations: ``--set STAGE.losses.KEY.enabled=false``)."""


@attrs.define
class ViewConfig:
    """A view of each image: an augmentation and its parameters, of the image itself or of a neighbour."""

    augmentation: str = "clean"
    params: dict[str, Any] = attrs.field(factory=dict)
    of: str | None = None
    """A dataset-scope labeler of the stage that publishes ``neighbours``: the view then shows, for each image
    of a batch, one of its neighbours drawn uniformly (the batch also carries ``<view>.index``)."""


@attrs.define
class StopRule:
    """Stop a stage early once an epoch metric stops improving (e.g. DCCS's critic loss).

    ``metric`` is a key of the epoch record (``loss``, ``loss/<term>``,
    ``adversary/<term>``); ``mode`` ``abs_min`` watches its magnitude.
    """

    metric: str
    mode: Literal["min", "max", "abs_min"] = "min"
    patience: int = attrs.field(default=10, validator=_positive)
    min_delta: float = attrs.field(default=0.0, validator=_non_negative)
    warmup: int = attrs.field(default=0, validator=_non_negative)
    """Epochs to ignore first (e.g. while a critic catches up)."""


@attrs.define
class EvaluationConfig:
    """When a stage is evaluated, how its dataset passes treat BatchNorm, and an optional early stop."""

    every: int = attrs.field(default=1, validator=_non_negative)
    """Evaluate (assignment + metrics) every this many epochs; 0 only at the end."""
    batchnorm: Literal["running", "batch"] = "running"
    """BatchNorm at dataset-level passes (evaluation, dataset-scope labelers): running statistics (eval mode)
    or batch statistics."""
    stop: StopRule | None = None
    """Stop the stage early once an epoch metric stops improving (besides the ``epochs`` cap)."""


@attrs.define
class StageConfig:
    """One stage of a recipe: its slots (representation, assignment, labelers, losses, loop), views, epochs,
    batch size, optimiser and evaluation."""

    representation: RepresentationSlot = attrs.field(converter=_representation_slot)
    assignment: Slot
    labelers: dict[str, LabelerSlot] = attrs.field(factory=dict)
    losses: dict[str, LossSlot] = attrs.field(factory=dict)
    views: dict[str, ViewConfig] = attrs.field(factory=lambda: {"clean": ViewConfig()})
    loop: Slot = attrs.field(factory=lambda: Slot("core.minibatch"))
    """The training loop: how an epoch's images become optimiser steps (``core.minibatch``: one step per
    ``batch_size`` images; ``core.outer_inner``: labels per outer batch, then inner mini-batches)."""
    epochs: int = attrs.field(default=0, validator=_non_negative)
    batch_size: int = attrs.field(default=256, validator=_positive)
    optimizer: OptimizerConfig = attrs.field(factory=OptimizerConfig)
    evaluation: EvaluationConfig = attrs.field(factory=EvaluationConfig)

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimiser steps the stage takes: its epochs' steps, or ``optimizer.max_steps`` when fewer."""
        steps, limit = self.epochs * steps_per_epoch, self.optimizer.max_steps
        return steps if limit is None else min(steps, limit)


@attrs.define
class DataConfig:
    """Which images, and how to read them."""

    spec: str = "digits"
    split: Literal["all", "train", "test"] = "all"
    size: int | None = None
    """Resize folder images to size×size (needed when their sizes differ)."""
    root: str | None = None
    """Download/cache directory for torchvision datasets."""


@attrs.define
class RunConfig:
    """Everything a run needs; ``config.toml`` in the run directory, reloadable with ``--config``."""

    recipe: str
    plugin: str
    stages: dict[str, StageConfig]
    data: DataConfig = attrs.field(factory=DataConfig)
    k: int | None = attrs.field(default=None, validator=_positive)
    k_source: str | None = attrs.field(default=None, validator=attrs.validators.optional(
        attrs.validators.in_(K_SOURCES)))
    """Where ``k`` came from: ``labels`` (counted), ``user`` (--k, --set k=, a config file) or ``estimate``
    (--k auto); None when not recorded (a config built in code)."""
    seed: int = 0
    device: str = "auto"
    num_workers: int = attrs.field(default=0, validator=_non_negative)
    """No effect since views are made batched on the training device (no DataLoader workers); kept so that
    older ``config.toml`` files load."""
    report: bool = True
    """Draw the PNG report (confusion matrix, cluster montage, curves, 2-D embedding)."""
    budget: dict[str, Any] = attrs.field(factory=dict)
    """How ``--budget`` scaled the stages' epochs (the budget, the calibration, each stage's epochs before and
    after); a record only: the epochs above are the ones that run. Empty without a budget."""
