"""Run a resolved config: every stage in order, then assignment, metrics and artefacts."""
from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from . import runs
from .accelerate import Accelerator
from .components import Assignment, BuildContext, outer_batches
from .config import RunConfig
from .data import ImageSet
from .engine.budget import StageCost, stage_deadlines
from .engine.passes import dataset_outputs
from .engine.seeding import rng_state, seed_everything, set_rng_state, stage_seed
from .engine.stage import StageParts, build_stage
from .engine.trainer import StageTrainer, TrainerHooks
from .engine.views import ViewService
from .errors import ClustError, one_line
from .metrics import cluster_accuracy, evaluate, neighbour_purity
from .report.board import Board
from .registry import Registry
from .stage_cache import cache_path, load_cached_stage, remove_stale_temporaries, stage_fingerprint


@attrs.frozen
class RunResult:
    """What a finished run produced."""

    assignment: Assignment
    metrics: dict[str, Any]
    run_dir: Path | None
    parts: StageParts
    outputs: dict[str, torch.Tensor]
    seconds: float
    budget_cuts: dict[str, dict[str, int]] = attrs.field(factory=dict)
    """Stages that a wall-time budget's deadline ended early: the step reached and the steps scheduled."""


class Runner:
    """Executes a :class:`RunConfig` on one process (rank) of a run."""

    def __init__(self, registry: Registry, config: RunConfig, images: ImageSet, accelerator: Accelerator,
                 run_dir: Path | None, log: Callable[[str], None] = lambda _: None) -> None:
        self.registry, self.config, self.images, self.acc = registry, config, images, accelerator
        self.run_dir, self.log = run_dir, log
        self.ctx = BuildContext(shape=images.shape, k=config.k, n=images.n, dataset=images.name,
                                device=accelerator.device, seed=config.seed)
        self.completed: dict[str, dict[str, Any]] = {}
        self.clean_views: dict[str, ViewService] = {}
        """Each stage's clean view of the images, kept on the device across evaluations."""
        self._built: dict[str, tuple[StageParts, dict[str, Any]]] = {}
        self._board: Board | None = None
        """TensorBoard copy of the records (written only when tensorboard is installed)."""
        self._prepared = False

    def prepare(self) -> None:
        """Build every stage, each from its own seed, before anything is written: a component that refuses
        its parameters or the data fails here, not after the run directory exists."""
        for name, stage in self.config.stages.items():
            seed_everything(stage_seed(self.config.seed, name))
            try:
                parts = build_stage(self.registry, name, stage, self.ctx)
            except ValueError as exc:  # a factory refusing its parameters (or the data)
                raise ClustError(f"stage '{name}': {one_line(str(exc))[:300] or type(exc).__name__}") from None
            self._built[name] = (parts, rng_state())
        self._prepared = True

    def calibrate(self, probe_seconds: float = 3.0, timed: bool = True) -> dict[str, StageCost]:
        """Each stage's costs on this machine (``--budget``): an assignment pass (:meth:`_assign_seconds`),
        then for a training stage a refresh of its dataset-scope labelers and its first steps
        (:meth:`StageTrainer.probe`; the first step's excess over the later ones is charged once per outer
        batch of a loop that has them, else averaged into the step); untimed, only the steps per epoch (a step
        budget). The probes change the parts, so they are built anew from their seeds on the next use: a
        calibrated run computes what the same schedule computes without one."""
        costs = {}
        quiet = TrainerHooks.silent()
        for name, stage in self.config.stages.items():
            parts = self._start(name)
            trainer = None if not stage.epochs else StageTrainer(parts, self.images, self.acc, quiet,
                                                                 seed=self.config.seed)
            if not timed:
                costs[name] = StageCost(trainer.steps_per_epoch if trainer else 0, 0.0, 0.0, 0.0)
                continue
            assign = self._assign_seconds(parts)
            if trainer is None:
                costs[name] = StageCost(0, 0.0, 0.0, assign)
                continue
            probe = trainer.probe(probe_seconds)
            every = tuple(stage.labelers[key].every for key, spec in parts.labeler_specs.items()
                          if spec.scope == "dataset")
            outer = outer_batches(parts.loop, trainer)
            excess = max(0.0, probe.first_step_seconds - probe.step_seconds) if outer else 0.0
            # without outer batches the first step stays in the mean, a margin for what the probe does not see:
            # per-epoch work (checkpoint, log: ~5 ms an epoch for JULE) and steps that get dearer later (JULE's,
            # 0.004 -> 0.008 s as clusters merge); without it a 12-s JULE budget ran 40 s
            step = probe.step_seconds if outer else (
                (probe.first_step_seconds + probe.step_seconds * (probe.steps - 1)) / probe.steps)
            timing = self.acc.broadcast((trainer.steps_per_epoch, step, probe.refresh_seconds, assign, excess))
            costs[name] = StageCost(*timing[:4], refresh_every=every, outer_seconds=timing[4],
                                    outer_per_epoch=outer)
        self._built.clear()  # the next use builds the parts anew (prepare), as if no probe had run
        self._prepared = False
        return costs

    def _assign_seconds(self, parts: StageParts, sample: int = 256, exact_below: float = 10.0) -> float:
        """Seconds of an assignment pass over every image: measured whole when that takes at most about
        ``exact_below`` seconds; otherwise the pass over ``sample`` images and the assignment's fit on their
        outputs, scaled linearly to all images (COIL-20's 128-px passes took 45-90 s of a 2-minute budget).
        The assignment is fitted once untimed first: one-time work, such as numba's compiles on a fresh install
        (JULE's merging: ~10 s, which scaled to digits' 1,797 images read as 74 s and left 3 of 150 epochs),
        is not a cost of every pass."""
        size = min(self.images.n, max(sample, 4 * self.config.k))
        service = ViewService(self.images.subset(np.arange(size)), {"clean": parts.views["clean"]}, self.acc.device)
        started = time.perf_counter()
        outputs = self._clean_outputs(parts, service)
        forward = time.perf_counter() - started
        parts.assignment.fit(outputs)
        started = time.perf_counter()
        parts.assignment.fit(outputs)
        scaled = (forward + time.perf_counter() - started) * self.images.n / size
        if size < self.images.n and self.acc.broadcast(scaled) > exact_below:
            return scaled
        started = time.perf_counter()
        self._assign(parts)
        return time.perf_counter() - started

    def built(self, name: str) -> StageParts:
        """Stage ``name``'s parts as :meth:`prepare` built them (before training)."""
        if not self._prepared:
            self.prepare()
        return self._built[name][0]

    def _start(self, name: str) -> StageParts:
        """Stage ``name``'s parts with the random state right after they were built from the stage's seed,
        so that a stage computes the same whether earlier stages were computed, cached or resumed."""
        if not self._prepared:
            self.prepare()
        parts, state = self._built.pop(name)
        set_rng_state(state)
        return parts

    def run(self, resume: dict[str, Any] | None = None) -> RunResult:
        """Train every stage (continuing from ``resume`` when given) and assign the final clusters."""
        started = time.time()
        # a wall-time budget is kept at run time too: a stage whose steps grew dearer than calibrated stops at
        # its deadline (a resumed run, whose earlier part is not timed here, is not cut)
        timed = bool(self.config.budget) and not resume
        deadlines = stage_deadlines(self.config.budget, time.perf_counter()) if timed else {}
        cuts: dict[str, dict[str, int]] = {}
        resume = resume or {}
        self.completed = dict(resume.get("completed", {}))
        current = resume.get("current")
        parts, last = None, None
        for name, stage in self.config.stages.items():
            parts = self._start(name)
            if name in self.completed:
                _load_parts(parts, self.completed[name], "the checkpoint")
                continue
            cache = self._cache_file(name)
            cached = None if cache is None else load_cached_stage(*cache)
            if cached is not None:
                _load_parts(parts, cached, f"stage cache {cache[0]}")
                self._record({"stage": name, "cached": str(cache[0]), **cached["metrics"]})
                self.completed[name] = {k: cached[k] for k in ("representation", "assignment")}
                last = None
                continue
            if stage.representation.init_from:
                self._init_from(parts, self.completed[stage.representation.init_from])
            if stage.epochs:
                trainer = StageTrainer(parts, self.images, self.acc, self._hooks(parts), seed=self.config.seed)
                if current is not None and current["stage"] == name:
                    _load_trainer(trainer, current["trainer"])
                    set_rng_state(resume["rng"])
                    current = None
                trainer.deadline = deadlines.get(name)
                if name in deadlines:
                    trainer.refresh_seconds = float(self.config.budget["stages"][name]["refresh_seconds"])
                trainer.fit()
                if trainer.cut_at is not None:
                    cuts[name] = {"step": trainer.cut_at, "of": trainer.total_steps}
                    self.log(f"[{name}] the budget's deadline ended training at step {trainer.cut_at} of "
                             f"{trainer.total_steps} (the calibration's estimate was short, or the shortest "
                             f"schedule does not fit)")
                self._score_labelers(name, trainer)
            last = self._assign(parts)
            self._record({"stage": name, "final": True, **last[2], **parts.scalars.drain()})
            self.completed[name] = {"representation": parts.representation.state_dict(),
                                    "assignment": parts.assignment.state_dict()}
            if cache is not None:
                extra = {"embedding": last[1]["embedding"]} if "embedding" in last[1] else {}
                self.acc.save({**self.completed[name], "fingerprint": cache[1], "stage": name,
                               "metrics": last[2], **extra}, cache[0])
            self._save_checkpoint({"completed": self.completed})
        assert parts is not None, "a recipe has at least one stage"
        assignment, outputs, metrics = last if last is not None else self._assign(parts, refit=False)
        if self._board is not None:
            self._board.close()
        return RunResult(assignment, metrics, self.run_dir, parts, outputs, round(time.time() - started, 3), cuts)

    def _cache_file(self, name: str) -> tuple[Path, str] | None:
        """Where stage ``name``'s result is cached, with its fingerprint (None when it is not cached)."""
        setting = self.config.stages[name].representation.cache
        if setting is None:
            return None
        fingerprint = stage_fingerprint(self.config, name, self.images)
        path = cache_path(setting, name, fingerprint)
        if self.acc.is_main:
            remove_stale_temporaries(path)
        return path, fingerprint

    @staticmethod
    def _init_from(parts: StageParts, source: dict[str, Any]) -> None:
        """Start from an earlier stage: the representation's ``init_from_stage`` or its matching weights."""
        adopt = getattr(parts.representation, "init_from_stage", None)
        if callable(adopt):
            adopt(source["representation"], source["assignment"])
        else:
            parts.representation.load_state_dict(source["representation"], strict=False)

    def _score_labelers(self, stage: str, trainer: StageTrainer) -> None:
        """Log metrics of each dataset-scope labeler's last labels (JULE's clusters before re-clustering);
        for masked labels also the share kept and their accuracy (Hungarian on the kept images; SPICE's
        reliable labels); for neighbours the share with the image's class (SCAN's mined neighbours)."""
        if self.images.labels is None:
            return
        for key, supervision in trainer.dataset_supervision.items():
            if supervision.neighbours is not None:
                self._record({"stage": stage, "labeler": key,
                              "neighbour_purity": neighbour_purity(supervision.neighbours, self.images.labels)})
            if supervision.labels is None:
                continue
            labels = supervision.labels.cpu().numpy()
            record = {"stage": stage, "labeler": key, **evaluate(self.images.labels, labels)}
            kept = None if supervision.mask is None else supervision.mask.cpu().numpy().astype(bool)
            if kept is not None and not kept.all():
                record["kept"] = float(kept.mean())
                if kept.any():
                    record["kept_acc"] = cluster_accuracy(self.images.labels[kept], labels[kept])
            self._record(record)

    def _hooks(self, parts: StageParts) -> TrainerHooks:
        return TrainerHooks(
            log=self._record,
            evaluate=lambda epoch: self._assign(parts)[2],
            checkpoint=lambda state: self._save_checkpoint(
                {"completed": self.completed, "current": {"stage": parts.name, "trainer": state}}),
            checkpoint_hint=self._checkpoint_hint,
            progress=self.log,
        )

    def _assign(self, parts: StageParts, refit: bool = True) -> tuple[Assignment, dict[str, torch.Tensor], dict[str, Any]]:
        """Outputs on the clean view of every image → assignment (+ metrics when labels exist)."""
        if parts.name not in self.clean_views:
            self.clean_views[parts.name] = ViewService(self.images, {"clean": parts.views["clean"]}, self.acc.device)
        outputs = self._clean_outputs(parts, self.clean_views[parts.name])
        assignment = parts.assignment.fit(outputs) if refit else parts.assignment.predict(outputs)
        metrics = {} if self.images.labels is None else evaluate(self.images.labels, assignment.labels)
        return assignment, outputs, metrics

    def _clean_outputs(self, parts: StageParts, service: ViewService) -> dict[str, torch.Tensor]:
        """The outputs the assignment reads (and the embedding) on the clean view of ``service``'s images."""
        names = set(parts.assignment_needs) | ({"embedding"} & parts.produces)
        return dataset_outputs(parts.representation, service, self.acc, view="clean", names=names,
                               batch_size=parts.config.batch_size, batchnorm=parts.config.evaluation.batchnorm,
                               amp=parts.config.optimizer.amp)

    def _record(self, record: dict[str, Any]) -> None:
        if not self.acc.is_main:
            return
        if self.run_dir is not None:
            runs.append_metrics(self.run_dir, record)
            if self._board is None:
                self._board = Board(self.run_dir)
            self._board.write(record)
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
                         if k not in ("stage", "nmi_average"))
        self.log(f"[{record['stage']}] {shown}")

    def _checkpoint_hint(self) -> str:
        path = self._checkpoint_path()
        return str(path) if path is not None and path.is_file() else "none"

    def _checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / runs.LAST_CHECKPOINT

    def _save_checkpoint(self, state: dict[str, Any]) -> None:
        path = self._checkpoint_path()
        if path is not None:
            self.acc.save({**state, "rng": rng_state(), "meta": runs.checkpoint_meta(self.config)}, path)


_LOAD_ERRORS = (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError)
"""What loading a state that does not fit the built components raises (torch's are RuntimeErrors)."""


def _load_parts(parts: StageParts, state: dict[str, Any], source: str) -> None:
    """Load a finished stage's weights and fitted assignment; one line when they do not fit the config."""
    try:
        parts.representation.load_state_dict(state["representation"])
        parts.assignment.load_state_dict(state["assignment"])
    except _LOAD_ERRORS as exc:
        raise ClustError(f"{source} does not fit stage '{parts.name}' as configured: {one_line(str(exc))[:300]}"
                         ) from None


def _load_trainer(trainer: StageTrainer, state: dict[str, Any]) -> None:
    """Restore a stage's training state from a checkpoint; one line when it does not fit the config."""
    try:
        trainer.load_state_dict(state)
    except _LOAD_ERRORS as exc:
        raise ClustError(f"the checkpoint does not fit stage '{trainer.parts.name}' as configured: "
                         f"{one_line(str(exc))[:300]}") from None


def summarize(result: RunResult, config: RunConfig, registry: Registry, images: ImageSet) -> dict[str, Any]:
    """``summary.json``: metrics, data, recipe and components, versions."""
    try:
        import faiss
        faiss_version = getattr(faiss, "__version__", "unknown")
    except ImportError:
        faiss_version = None
    metrics = {key: result.metrics.get(key) for key in ("acc", "nmi", "nmi_average", "ari", "acc_many_to_one")}
    return {
        **metrics,
        "n": images.n,
        "k": config.k,
        "k_source": config.k_source,
        "clusters_found": int(len(np.unique(result.assignment.labels))),
        "seconds": result.seconds,
        "dataset": images.name,
        "recipe": config.recipe,
        "plugin": config.plugin,
        "seed": config.seed,
        "components": {name: {"representation": s.representation.component, "assignment": s.assignment.component,
                              "labelers": {k: v.component for k, v in s.labelers.items()},
                              "losses": {k: v.component for k, v in s.losses.items()}}
                       for name, s in config.stages.items()},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "faiss": faiss_version,
                     "numpy": np.__version__,
                     "plugins": {p.name: p.version for p in registry.working}},
        "command": " ".join(sys.argv),
        **({"budget": {**config.budget, **({"cut": result.budget_cuts} if result.budget_cuts else {})}}
           if config.budget else {}),
    }
