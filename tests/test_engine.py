"""The training loop: n:1 adversary steps, outer/inner schedule, NaN stop, resume, schedules."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import engine_kit
from clust_core import runs
from clust_core.accelerate import Accelerator
from clust_core.components import BuildContext
from clust_core.config import (EvaluationConfig, LabelerSlot, LossSlot, OptimizerConfig, RunConfig, Slot, StageConfig,
                               StopRule, ViewConfig)
from clust_core.data import load_dataset
from clust_core.engine.optim import make_optimizer, make_scheduler
from clust_core.engine.stage import build_stage, resolve_stage
from clust_core.engine.trainer import StageTrainer, TrainerHooks
from clust_core.errors import DivergenceError
from clust_core.registry import load_registry
from clust_core.runner import Runner


@pytest.fixture(scope="module")
def registry():
    return load_registry(extra={"kit": engine_kit})


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def configure(registry, images, **stage_fields) -> RunConfig:
    stage = StageConfig(**{"representation": Slot("kit.pixels_head"), "assignment": Slot("core.argmax"),
                           **stage_fields})
    resolved = resolve_stage(registry, "train", stage, images.shape, {})
    return RunConfig(recipe="test", plugin="kit", stages={"train": resolved}, k=10)


def trainer_for(registry, config, images) -> StageTrainer:
    stage = config.stages["train"]
    ctx = BuildContext(shape=images.shape, k=config.k, n=images.n, dataset=images.name)
    parts = build_stage(registry, "train", stage, ctx)
    hooks = TrainerHooks.silent()
    return StageTrainer(parts, images, Accelerator("cpu"), hooks)


def test_adversary_takes_its_steps_per_main_step_each_on_a_fresh_batch(registry, digits) -> None:
    images = digits.subset(range(64))
    config = configure(registry, images, losses={"adv": LossSlot("kit.critic")}, epochs=1, batch_size=16)
    trainer = trainer_for(registry, config, images)
    trainer.fit()
    loss = trainer.parts.losses["adv"]
    assert trainer.step == 4
    assert len(loss.adversary.seen) == 4 * trainer.step
    main_rows = {tuple(row.tolist()) for batch in loss.main_inputs for row in batch}
    for i, batch in enumerate(loss.adversary.seen):
        assert batch.shape == (16, 64)
        if i:
            assert not torch.equal(batch, loss.adversary.seen[i - 1]), "critic steps reused a batch"
    step_batches = [loss.adversary.seen[4 * s: 4 * s + 4] for s in range(trainer.step)]
    for s, critic_batches in enumerate(step_batches):
        for critic_batch in critic_batches:
            assert not torch.equal(critic_batch, loss.main_inputs[s]), "critic trained on the encoder's batch"
    assert main_rows, "the encoder took no step"


def test_adversary_without_fresh_batches_reuses_the_main_batch(registry, digits) -> None:
    images = digits.subset(range(32))
    config = configure(registry, images, epochs=1, batch_size=16,
                       losses={"adv": LossSlot("kit.critic", params={"steps": 2, "fresh_batch": False})})
    trainer = trainer_for(registry, config, images)
    trainer.fit()
    loss = trainer.parts.losses["adv"]
    assert len(loss.adversary.seen) == 2 * trainer.step
    for s in range(trainer.step):
        assert torch.equal(loss.adversary.seen[2 * s], loss.main_inputs[s])


def test_outer_batch_labels_once_then_repeats_inner_mini_batches(registry, digits) -> None:
    images = digits.subset(range(64))
    config = configure(
        registry, images, epochs=1, batch_size=32, loop=Slot("core.outer_inner", {"repeats": 2, "inner_batch": 8, "draws": 3}),
        views={"clean": ViewConfig(), "aug": ViewConfig("weak", {"flip": False})},
        labelers={"graph": LabelerSlot("kit.counting")},
        losses={"ce": LossSlot("core.cross_entropy", views=["aug"], supervision="graph")})
    trainer = trainer_for(registry, config, images)
    trainer.fit()
    assert trainer.parts.labelers["graph"].sizes == [32, 32]
    assert trainer.step == 2 * 2 * (32 // 8) * 3
    assert trainer.scheduler.last_epoch == trainer.step


def test_nan_loss_stops_naming_the_term_and_keeps_the_last_good_checkpoint(registry, digits, tmp_path) -> None:
    images = digits.subset(range(64))
    config = configure(registry, images, epochs=3, batch_size=32,
                       losses={"fine": LossSlot("core.cross_entropy", supervision="labels"),
                               "bad": LossSlot("kit.nan_after", params={"after": 3})},
                       labelers={"labels": LabelerSlot("core.confident", params={"threshold": 0.0})})
    runner = Runner(registry, config, images, Accelerator("cpu"), tmp_path)
    with pytest.raises(DivergenceError, match=r"loss term 'bad' became nan .* epoch 2, step 4") as caught:
        runner.run()
    assert str(tmp_path / runs.LAST_CHECKPOINT) in str(caught.value)
    state = torch.load(tmp_path / runs.LAST_CHECKPOINT, weights_only=True)
    assert state["current"]["trainer"]["epoch"] == 1


class Interrupted(Exception):
    pass


class InterruptedRunner(Runner):
    """Dies right after writing the checkpoint of epoch ``stop``."""

    stop = 2

    def _save_checkpoint(self, state):
        super()._save_checkpoint(state)
        if state.get("current", {}).get("trainer", {}).get("epoch") == self.stop:
            raise Interrupted


def test_resume_reaches_the_same_result_as_an_uninterrupted_run(registry, digits, tmp_path: Path) -> None:
    images = digits.subset(range(160))
    config = configure(
        registry, images, epochs=4, batch_size=32,
        representation=Slot("core.convnet", {"width": 8, "embedding_dim": 16}),
        views={"clean": ViewConfig(), "weak": ViewConfig("weak", {"flip": False})},
        labelers={"labels": LabelerSlot("core.kmeans", every=2)},
        losses={"ce": LossSlot("core.cross_entropy", views=["weak"], supervision="labels")},
        optimizer=OptimizerConfig(name="sgd", lr=0.05, momentum=0.9, schedule="cosine"))
    config.stages["train"] = resolve_stage(registry, "train", config.stages["train"], images.shape, {})
    for name in ("whole", "cut"):
        (tmp_path / name).mkdir()
    whole = Runner(registry, config, images, Accelerator("cpu"), tmp_path / "whole").run()
    with pytest.raises(Interrupted):
        InterruptedRunner(registry, config, images, Accelerator("cpu"), tmp_path / "cut").run()
    state = torch.load(tmp_path / "cut" / runs.LAST_CHECKPOINT, weights_only=True)
    resumed = Runner(registry, config, images, Accelerator("cpu"), tmp_path / "cut").run(resume=state)
    assert (resumed.assignment.labels == whole.assignment.labels).all()
    scored = [r for r in runs.read_metrics(tmp_path / "whole") if r.get("labeler") == "labels"]
    assert len(scored) == 1 and 0.0 <= scored[0]["nmi"] <= 1.0 and scored[0]["n"] == 160
    for key, value in whole.parts.representation.state_dict().items():
        assert torch.equal(value, resumed.parts.representation.state_dict()[key]), key


@pytest.mark.parametrize(("schedule", "step", "factor"), [
    ("constant", 50, 1.0),
    ("cosine", 50, 0.5),
    ("cosine", 100, 0.0),
    ("inv", 100, (1 + 1e-4 * 100) ** -0.75),
    ("fixmatch", 100, math.cos(7 * math.pi / 16)),
])
def test_learning_rate_schedules(schedule: str, step: int, factor: float) -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    config = OptimizerConfig(name="sgd", lr=0.1, schedule=schedule)
    optimizer = make_optimizer(config, [param])
    scheduler = make_scheduler(config, optimizer, total_steps=100, schedules=load_registry().schedules)
    for _ in range(step):
        optimizer.step()
        scheduler.step()
    assert math.isclose(optimizer.param_groups[0]["lr"], 0.1 * factor, abs_tol=1e-12)


def test_stop_rule_ends_the_stage_once_the_metric_stalls(registry, digits) -> None:
    images = digits.subset(range(64))
    config = configure(registry, images, epochs=20, batch_size=32,
                       labelers={"labels": LabelerSlot("core.confident", params={"threshold": 0.0})},
                       losses={"ce": LossSlot("core.cross_entropy", supervision="labels")},
                       evaluation=EvaluationConfig(stop=StopRule(metric="loss", mode="min", patience=2, min_delta=1.0)))
    records: list[dict] = []
    trainer = trainer_for(registry, config, images)
    trainer.hooks.log = records.append
    trainer.fit()
    assert trainer.epoch == 3, "the first epoch sets the best value, two stale epochs follow"
    assert "stopped" in records[-1] and "stopped" not in records[0]
    assert trainer.state_dict()["stopped"] is True


def test_stop_rule_ignores_its_warmup_epochs() -> None:
    from clust_core.engine.stopping import EarlyStop

    stopper = EarlyStop(StopRule(metric="m", patience=1, warmup=2))
    assert [stopper.should_stop({"m": 5.0}) for _ in range(4)] == [False, False, False, True]


def test_without_a_terminal_long_epochs_print_heartbeat_lines(registry, digits, monkeypatch) -> None:
    from clust_core.engine import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "HEARTBEAT_SECONDS", 0.0)
    images = digits.subset(range(64))
    config = configure(registry, images, epochs=1, batch_size=16,
                       labelers={"labels": LabelerSlot("core.confident", params={"threshold": 0.0})},
                       losses={"ce": LossSlot("core.cross_entropy", supervision="labels")})
    trainer = trainer_for(registry, config, images)
    lines: list[str] = []
    trainer.hooks.progress = lines.append
    trainer.fit()
    assert lines[-1].startswith("[train] epoch 1/1: 4/4 batches")


def test_a_disabled_loss_is_left_out_of_training(registry, digits) -> None:
    images = digits.subset(range(32))
    config = configure(registry, images, epochs=1, batch_size=16,
                       labelers={"labels": LabelerSlot("core.confident", params={"threshold": 0.0})},
                       losses={"ce": LossSlot("core.cross_entropy", supervision="labels"),
                               "bad": LossSlot("kit.nan_after", params={"after": 0}, enabled=False)})
    trainer = trainer_for(registry, config, images)
    trainer.fit()
    assert set(trainer.parts.losses) == {"ce"} and trainer.step == 2
