"""The training of one stage, the same on CPU, one GPU and DDP.

The stage's loop component (:mod:`.loops`, or a plugin's) decides how an
epoch's images become steps; the trainer is its
:class:`~clust_core.components.LoopContext`. Per step: take supervision from
batch-scope labelers (computed without gradient on their view) or from the
dataset-scope ones (refreshed at declared epochs over the whole dataset),
forward the views the losses read, sum the weighted loss terms, stop on a
non-finite term, backpropagate, step. Adversaries take their own steps first,
at their declared ratio, on fresh batches (a generic GAN pattern). After every
main step, the representation's and losses' ``after_step()`` run where they
define one (a momentum encoder, an EMA copy). Around the epochs: evaluation,
the stop rule, logging and checkpoints. Every batch of views comes from one
:class:`~.views.ViewService`: uint8 images on the device, each view computed
for the whole batch at once.
"""
from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..accelerate import Accelerator
from ..augment import SampleRandom
from ..augment.randomness import new_key
from ..components import Adversary, Supervision, outer_batches
from ..data import ImageSet
from ..errors import ClustError, DivergenceError
from .optim import make_optimizer, make_scheduler, trainable
from .passes import dataset_outputs
from .stage import StageParts
from .stopping import EarlyStop
from .views import ViewService, shuffled_batches


HEARTBEAT_SECONDS = 60.0
"""Without a terminal, a progress line at most this often within an epoch."""


@contextlib.contextmanager
def _frozen(modules: Iterable[nn.Module]) -> Iterator[None]:
    """No gradients for ``modules``' parameters inside the block (an adversary during the main step)."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@attrs.define
class TrainerHooks:
    """What the trainer reports to the run: logs, evaluations, checkpoints."""

    log: Callable[[dict[str, Any]], None]
    evaluate: Callable[[int], dict[str, Any]]
    """Called with the number of finished epochs at declared evaluation points."""
    checkpoint: Callable[[dict[str, Any]], None]
    checkpoint_hint: Callable[[], str] = lambda: "none yet"
    progress: Callable[[str], None] = lambda message: None
    """Where a heartbeat line goes every ``HEARTBEAT_SECONDS`` when no progress bar is shown."""

    @classmethod
    def silent(cls) -> TrainerHooks:
        """Hooks that log, evaluate and checkpoint nothing: a calibration's probe, or training outside a run."""
        return cls(log=lambda record: None, evaluate=lambda epoch: {}, checkpoint=lambda state: None)


@attrs.frozen
class Probe:
    """What :meth:`StageTrainer.probe` measured."""

    refresh_seconds: float
    """One refresh of every dataset-scope labeler."""
    first_step_seconds: float
    """The epoch's first step, with whatever the loop did before it (an outer batch's labels)."""
    step_seconds: float
    """Mean of the later steps (the first step's when it was the only one)."""
    steps: int


class StageTrainer:
    """Trains one stage's representation (and loss modules) for its epochs."""

    def __init__(self, parts: StageParts, images: ImageSet, accelerator: Accelerator, hooks: TrainerHooks,
                 *, seed: int = 0) -> None:
        self.parts, self.config, self.acc, self.hooks = parts, parts.config, accelerator, hooks
        self.images, self.seed, self.n = images, seed, images.n
        self.rank, self.world_size = accelerator.rank, accelerator.world_size
        self.service = ViewService(images, parts.views, accelerator.device)
        self.fresh: Iterator[dict[str, Tensor]] | None = None
        self.epoch = self.step = 0
        self.stopper = EarlyStop(self.config.evaluation.stop)
        self.stopped = False
        self.deadline: float | None = None
        """A wall-time budget's end for this stage's training (``time.perf_counter()``), None without one."""
        self.cut_at: int | None = None
        """The step at which the deadline ended the stage, None while it has not."""
        self.refresh_seconds = 0.0
        """The calibration's time for one refresh of the dataset-scope labelers: a refresh due after the first
        epoch that would end past the deadline is not started (JULE's merging on COIL-20: 20-25 s)."""
        self.dataset_supervision: dict[str, Supervision] = {}
        adversaries = {k: m.adversary for k, m in parts.losses.items() if isinstance(getattr(m, "adversary", None), Adversary)}
        adversary_ids = {id(p) for a in adversaries.values() for p in a.module.parameters()}
        self.params = [p for p in trainable(parts.representation, *parts.losses.values()) if id(p) not in adversary_ids]
        if not self.params:
            raise ClustError(f"stage '{parts.name}' trains for {self.config.epochs} epochs but has no trainable parameters")
        self.optimizer = make_optimizer(self.config.optimizer, self.params)
        self.steps_per_epoch = parts.loop.steps_per_epoch(self)
        self.total_steps = self.config.total_steps(self.steps_per_epoch)
        self.scheduler = make_scheduler(self.config.optimizer, self.optimizer, self.total_steps, parts.schedules)
        self.adversaries = {
            k: (a, make_optimizer(self.config.losses[k].adversary_optimizer or self.config.optimizer, a.module.parameters()))
            for k, a in adversaries.items()
        }
        self.after_step = [m.after_step for m in (parts.representation, *parts.losses.values())
                           if callable(getattr(m, "after_step", None))]

    # ------------------------------------------------------- the loop's context
    def index_batches(self, batch_size: int, epoch: int, salt: int = 0) -> list[Tensor]:
        """This rank's shuffled index batches of ``epoch`` (DistributedSampler's order)."""
        return shuffled_batches(self.images.n, batch_size, self.rank, self.world_size,
                                seed=self.seed + salt, epoch=epoch)

    def views(self, index: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """The named views of the images ``index``, plus ``index``; a view ``of`` a labeler shows, per image, a
        neighbour drawn uniformly from that labeler's ``neighbours`` row (its indices under ``<view>.index``)."""
        own = [name for name in names if self.config.views[name].of is None]
        batch = self.service.batch(index, own)
        for name in names:
            source = self.config.views[name].of
            if source is not None:
                neighbours = self.dataset_supervision[source].neighbours
                rows = neighbours[index.to(neighbours.device)]
                pick = SampleRandom(new_key(), index.to(rows.device)).integers(0, rows.shape[1])
                chosen = rows.gather(1, pick).squeeze(1).cpu()
                batch[name] = self.service.batch(chosen, [name])[name]
                batch[f"{name}.index"] = chosen
        return batch

    def loss_views(self) -> list[str]:
        """Views the enabled losses read."""
        return sorted({v for key in self.parts.losses for v in self.config.losses[key].views})

    def labeler_views(self) -> list[str]:
        """Views the batch-scope labelers read."""
        return sorted({v for k in self._batch_labelers() for v in self.config.labelers[k].views})

    def _batch_labelers(self) -> dict[str, Any]:
        return {k: f for k, f in self.parts.labelers.items() if self.parts.labeler_specs[k].scope == "batch"}

    # ----------------------------------------------------------------- loop
    def fit(self) -> None:
        """Train from the current epoch to the stage's last (or its stop rule), checkpointing after each."""
        first = self.epoch
        for epoch in range(first, self.config.epochs):
            if self.stopped or self._cut_done() or self.cut_at is not None:
                break
            if epoch > first and self._refresh_keys(epoch) and self._past_deadline(self.refresh_seconds):
                self.cut_at = self.step  # the refresh would not end before the deadline
                break
            started, sums, count = time.time(), {}, 0
            self._refresh_dataset_labels(epoch)
            self.fresh = self._fresh_batches(epoch)
            steps = min(self.steps_per_epoch, self.total_steps - self.step)
            bar = tqdm(self.parts.loop.epoch(self, epoch), total=steps,
                       desc=f"{self.parts.name} {epoch + 1}/{self.config.epochs}",
                       leave=False, disable=not (self.acc.is_main and sys.stderr.isatty()))
            beat = time.time()
            for done, terms in enumerate(bar, start=1):
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value
                count += 1
                if bar.disable and self.acc.is_main and time.time() - beat > HEARTBEAT_SECONDS:
                    beat = time.time()
                    self.hooks.progress(f"[{self.parts.name}] epoch {epoch + 1}/{self.config.epochs}: "
                                        f"{done}/{steps} batches, {beat - started:.0f} s")
                if self._cut_done():  # the epoch is cut short
                    break
                if self._past_deadline():
                    self.cut_at = self.step
                    break
            self.epoch = epoch + 1
            record = {"stage": self.parts.name, "epoch": self.epoch, "step": self.step,
                      "lr": self.optimizer.param_groups[0]["lr"], "seconds": round(time.time() - started, 3)}
            record.update({key: value / max(count, 1) for key, value in sorted(sums.items())})
            record.update(self.parts.scalars.drain())
            self.stopped = self.stopper.should_stop(record)
            every = self.config.evaluation.every
            last = self.epoch == self.config.epochs or self._cut_done() or self.cut_at is not None
            if every and self.epoch % every == 0 and not last and not self.stopped:
                record.update(self.hooks.evaluate(self.epoch))
                record.update(self.parts.scalars.drain())
            if self.stopped:
                rule = self.config.evaluation.stop
                record["stopped"] = f"{rule.metric} did not improve for {rule.patience} epochs"
            if self.cut_at is not None:
                record["stopped"] = f"the budget's deadline at step {self.cut_at} of {self.total_steps}"
            self.hooks.log(record)
            self.hooks.checkpoint(self.state_dict())

    def _past_deadline(self, ahead: float = 0.0) -> bool:
        """Whether the deadline has passed, or will within ``ahead`` seconds (rank 0's clock decides, so every
        rank stops at the same step)."""
        if self.deadline is None:
            return False
        return bool(self.acc.broadcast(time.perf_counter() + ahead >= self.deadline))

    def _cut_done(self) -> bool:
        """Whether ``optimizer.max_steps`` is set and reached (without it, epochs alone end the stage)."""
        return self.config.optimizer.max_steps is not None and self.step >= self.total_steps

    def probe(self, seconds: float, min_steps: int = 3) -> Probe:
        """Time one refresh of the dataset-scope labelers, then the first steps of epoch 0: the first step
        alone (it carries a loop's labelling of its first outer batch), then more until ``seconds`` have passed
        after the first, at least one (exactly ``min_steps`` in all under DDP, so every rank takes the same
        steps), never beyond the first outer batch's steps (a loop's
        :func:`~clust_core.components.outer_batches`) or the epoch. A budget's calibration: the steps
        change the weights, so the run builds its parts anew afterwards. One later step is enough where it
        alone took ``seconds``: a third step of SPICE's joint stage on COIL-20 added 40 s of probing."""
        limit = max(1, self.steps_per_epoch // max(1, outer_batches(self.parts.loop, self)))
        started = time.perf_counter()
        self._refresh_dataset_labels(0)
        refresh = time.perf_counter() - started
        self.fresh = self._fresh_batches(0)
        steps, started = 0, time.perf_counter()
        first = after_first = 0.0
        for _ in self.parts.loop.epoch(self, 0):
            steps += 1
            if steps == 1:
                after_first = time.perf_counter()
                first = after_first - started
            elapsed = time.perf_counter() - after_first
            enough = steps >= min_steps if self.world_size > 1 else steps >= 2 and elapsed >= seconds
            if steps >= limit or enough:
                break
        later = (time.perf_counter() - after_first) / (steps - 1) if steps > 1 else first
        return Probe(refresh_seconds=refresh, first_step_seconds=first, step_seconds=later, steps=steps)

    def _fresh_batches(self, epoch: int) -> Iterator[dict[str, Tensor]] | None:
        fresh_views = sorted({v for k, (a, _) in self.adversaries.items() if a.fresh_batch
                              for v in self.config.losses[k].views})
        if not fresh_views:
            return None

        def cycle() -> Iterator[dict[str, Tensor]]:
            round_ = 0
            while True:
                batches = self.index_batches(self.config.batch_size, epoch * 1000 + round_, salt=1)
                yield from self.service.batches(batches, fresh_views)
                round_ += 1
        return cycle()

    def supervision(self, batch: Mapping[str, Tensor]) -> dict[str, Supervision]:
        """Dataset-scope supervision at the batch's ``index``; batch-scope labelers run on its views."""
        supervision = {k: s.take(batch["index"]) for k, s in self.dataset_supervision.items()}
        labelers = self._batch_labelers()
        if labelers:
            with torch.no_grad(), self.acc.autocast(self.config.optimizer.amp):
                views = {v for k in labelers for v in self.config.labelers[k].views}
                outputs = {v: self.parts.representation(batch[v].to(self.acc.device)) for v in views}
            for key in labelers:
                read = [outputs[v] for v in self.config.labelers[key].views]
                supervision[key] = self._label(key, read).to(self.acc.device)
        return supervision

    def _label(self, key: str, outputs: list[Any]) -> Supervision:
        """Call labeler ``key`` with its views' outputs (one mapping, or a list when it reads several)."""
        labeler = self.parts.labelers[key]
        return labeler(outputs[0] if self.parts.labeler_specs[key].n_views == 1 else outputs)

    def train_step(self, batch: Mapping[str, Tensor], supervision: Mapping[str, Supervision]) -> dict[str, float]:
        """One training step: adversary steps, loss terms, non-finite check, backward, optimiser, schedule."""
        terms: dict[str, float] = {}
        for key, (adversary, optimizer) in self.adversaries.items():
            terms[f"adversary/{key}"] = self._adversary_steps(key, adversary, optimizer, batch, self.fresh)
        self.acc.sync_buffers(self.parts.representation)
        with self.acc.autocast(self.config.optimizer.amp), _frozen(a.module for a, _ in self.adversaries.values()):
            outputs = {v: self.parts.representation(batch[v].to(self.acc.device, non_blocking=True))
                       for v in self.loss_views()}
            values = {key: slot.weight * self.parts.losses[key]([outputs[v] for v in slot.views],
                                                                supervision.get(slot.supervision))
                      for key, slot in self.config.losses.items() if key in self.parts.losses}
        total = sum(values.values())
        self._check_finite(values, total)
        self.optimizer.zero_grad(set_to_none=True)
        self.acc.backward(total, self.params)
        if self.config.optimizer.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.optimizer.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        for callback in self.after_step:
            callback()
        self.step += 1
        terms.update({f"loss/{k}": float(v.detach()) for k, v in values.items()})
        terms["loss"] = float(total.detach())
        return terms

    def _adversary_steps(self, key: str, adversary: Adversary, optimizer: torch.optim.Optimizer,
                         batch: Mapping[str, Tensor], fresh: Iterator | None) -> float:
        views = self.config.losses[key].views
        total = 0.0
        for _ in range(adversary.steps):
            source = next(fresh) if adversary.fresh_batch and fresh is not None else batch
            with torch.no_grad(), self.acc.autocast(self.config.optimizer.amp):
                outputs = [self.parts.representation(source[v].to(self.acc.device)) for v in views]
            value = adversary.loss(outputs)
            self._check_finite({f"adversary/{key}": value}, value)
            optimizer.zero_grad(set_to_none=True)
            self.acc.backward(value, list(adversary.module.parameters()))
            optimizer.step()
            total += float(value.detach())
        return total / adversary.steps

    def _check_finite(self, values: dict[str, Tensor], total: Tensor) -> None:
        if bool(torch.isfinite(total.detach())):
            return
        bad = next((k for k, v in values.items() if not bool(torch.isfinite(v.detach()).all())), "total")
        raise DivergenceError(
            f"loss term '{bad}' became {float(values.get(bad, total).detach())} in stage '{self.parts.name}' "
            f"at epoch {self.epoch + 1}, step {self.step + 1}; stopped, last good checkpoint: "
            f"{self.hooks.checkpoint_hint()}")

    def _refresh_keys(self, epoch: int) -> list[str]:
        """The dataset-scope labelers due at the start of ``epoch``: those without labels yet, and those whose
        ``every`` divides it."""
        return [key for key in self.parts.labelers if self.parts.labeler_specs[key].scope == "dataset"
                and (key not in self.dataset_supervision
                     or self.config.labelers[key].every and not epoch % self.config.labelers[key].every)]

    def _refresh_dataset_labels(self, epoch: int) -> None:
        for key in self._refresh_keys(epoch):
            slot = self.config.labelers[key]
            outputs = [dataset_outputs(self.parts.representation, self.service, self.acc,
                                       view=view, names=self.parts.labeler_needs[key],
                                       batch_size=self.config.batch_size, batchnorm=self.config.evaluation.batchnorm,
                                       amp=self.config.optimizer.amp)
                       for view in slot.views]
            self.dataset_supervision[key] = self.acc.broadcast(self._label(key, outputs)).to(self.acc.device)

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything but the random state needed to continue where this epoch ended."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "stopper": self.stopper.state_dict(),
            "stopped": self.stopped,
            "representation": self.parts.representation.state_dict(),
            "losses": {k: m.state_dict() for k, m in self.parts.losses.items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "adversaries": {k: opt.state_dict() for k, (_, opt) in self.adversaries.items()},
            "labelers": {k: f.state_dict() for k, f in self.parts.labelers.items() if hasattr(f, "state_dict")},
            "dataset_supervision": {k: attrs.asdict(s, recurse=False) for k, s in self.dataset_supervision.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.epoch, self.step = state["epoch"], state["step"]
        self.stopper.load_state_dict(state["stopper"])
        self.stopped = bool(state["stopped"])
        self.parts.representation.load_state_dict(state["representation"])
        for key, module in self.parts.losses.items():
            module.load_state_dict(state["losses"][key])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for key, (_, optimizer) in self.adversaries.items():
            optimizer.load_state_dict(state["adversaries"][key])
        for key, labeler_state in state["labelers"].items():
            self.parts.labelers[key].load_state_dict(labeler_state)
        self.dataset_supervision = {k: Supervision(**v).to(self.acc.device)
                                    for k, v in state["dataset_supervision"].items()}
