"""``--budget``: parsing, the scaling arithmetic by hand, and budgeted runs that keep their budget."""
from __future__ import annotations

import json
import re
import time
import types
from pathlib import Path

import attrs

import pytest
from click.testing import CliRunner

import clust_core
from clust_core.accelerate import Accelerator
from clust_core.cli.main import build_cli
from clust_core.components import LoopSpec
from clust_core.config import EvaluationConfig, LabelerSlot, LossSlot, RunConfig, Slot, StageConfig
from clust_core.engine.budget import Budget, StageCost, fit_budget, parse_budget, scale_stage, stage_deadlines
from clust_core.engine.trainer import StageTrainer, TrainerHooks
from clust_core.errors import ClustError
from clust_core.registry import load_registry
from clust_core.resolve import check_config
from clust_core.runner import Runner
from clust_core.testing import registry_with, tiny_imageset
from clust_core import runs

RUN_DIR = re.compile(r"run directory: (\S+)")


@pytest.mark.parametrize(("text", "seconds", "steps"), [
    ("90s", 90, None), ("5m", 300, None), ("1h30m", 5400, None), ("2.5m", 150, None), ("2000steps", None, 2000),
    ("1 step", None, 1)])
def test_budgets_parse(text, seconds, steps) -> None:
    budget = parse_budget(text)
    assert (budget.seconds, budget.steps, budget.text) == (seconds, steps, text)


@pytest.mark.parametrize("text", ["5", "5x", "m", "0s", "0steps", "5m5", "-5m"])
def test_bad_budgets_are_refused(text) -> None:
    with pytest.raises(ClustError, match="--budget"):
        parse_budget(text)


def stage(epochs: int, every: int = 0, evaluate: int = 0) -> StageConfig:
    labelers = {"l": LabelerSlot("core.kmeans", every=every)} if every else {}
    return StageConfig(representation=Slot("core.pixels"), assignment=Slot("core.kmeans"), labelers=labelers,
                       epochs=epochs, batch_size=10, evaluation=EvaluationConfig(every=evaluate))


def test_a_stage_scales_with_its_periods() -> None:
    jule = scale_stage(stage(60, every=20), 0.25)         # JULE: 3 periods of 20 epochs -> 3 periods of 5
    assert (jule.epochs, jule.labelers["l"].every) == (15, 5)
    plain = scale_stage(stage(10, evaluate=4), 0.26)       # round(2.6) = 3 epochs, evaluation every round(1.2)
    assert (plain.epochs, plain.evaluation.every) == (3, 1)
    assert scale_stage(stage(10), 1e-6).epochs == 1          # never below one epoch
    assert scale_stage(stage(0), 5.0).epochs == 0            # a stage without training stays so
    assert scale_stage(stage(7, every=3), 2.0).labelers["l"].every == 6  # not whole periods: every scales alone
    every_epoch = scale_stage(stage(20, every=1, evaluate=1), 0.5)  # SPICE's prototypes: refreshed every epoch
    assert (every_epoch.epochs, every_epoch.labelers["l"].every, every_epoch.evaluation.every) == (10, 1, 1)
    assert scale_stage(stage(3, every=1), 1.4).epochs == 4


def test_stage_seconds_by_hand() -> None:
    cost = StageCost(steps_per_epoch=10, step_seconds=0.5, refresh_seconds=2.0, assign_seconds=3.0, refresh_every=(4,))
    # 6 epochs x 10 steps x 0.5 s + ceil(6/4) = 2 refreshes x 2 s + (1 final + 1 evaluation at epoch 3) x 3 s
    assert cost.seconds(stage(6, every=4, evaluate=3)) == pytest.approx(30 + 4 + 6)
    assert cost.seconds(stage(0)) == 3.0
    assert cost.steps(stage(6)) == 60


def test_the_budget_scales_every_training_stage_by_one_factor() -> None:
    config = RunConfig(recipe="r", plugin="p", stages={"a": stage(40), "b": stage(0), "c": stage(10)})
    costs = {"a": StageCost(10, 0.1, 0.0, 1.0), "b": StageCost(0, 0.0, 0.0, 2.0), "c": StageCost(5, 0.2, 0.0, 1.0)}
    # seconds = a's epochs x 1 + 1 + 2 + c's epochs x 1 + 1; 20 s left after 4 s of calibration:
    # f = 0.32 gives 12.8 -> 13 and 3.2 -> 3 epochs, 20 s; 14 epochs of a (f >= 0.3375) would take 21 s
    scaled, record = fit_budget(config, costs, Budget("24s", seconds=24), spent=4)
    assert [s.epochs for s in scaled.stages.values()] == [13, 0, 3]
    assert record["fits"] and record["estimated"] == 20 and scaled.budget == record
    assert record["stages"]["a"] == {"epochs": 40, "scaled_epochs": 13, "steps": 400, "scaled_steps": 130,
                                     "estimated_seconds": 14.0, "steps_per_epoch": 10, "step_seconds": 0.1,
                                     "refresh_seconds": 0.0, "assign_seconds": 1.0, "outer_seconds": 0.0,
                                     "outer_per_epoch": 0}
    longer, _ = fit_budget(config, costs, Budget("1m", seconds=60))       # more time: more epochs, same ratio
    assert [s.epochs for s in longer.stages.values()] == [45, 0, 11]
    steps, _ = fit_budget(config, costs, Budget("90steps", steps=90))      # 40f x 10 + 10f x 5 = 450 f <= 90
    assert [s.epochs for s in steps.stages.values()] == [8, 0, 2]
    tiny, record = fit_budget(config, costs, Budget("1s", seconds=1))
    assert [s.epochs for s in tiny.stages.values()] == [1, 0, 1] and not record["fits"]


def test_each_stage_stops_training_before_the_later_stages_estimates() -> None:
    """A 100-s budget after 4 s of calibration, started at t = 1000: stage c (last) trains until its own
    assignment's 1 s before the end (1095), a until b's 3 s, c's 20 s and its own 2 s before that (1071)."""
    record = {"unit": "seconds", "limit": 100, "calibration_seconds": 4.0, "stages": {
        "a": {"scaled_epochs": 5, "estimated_seconds": 50.0, "assign_seconds": 2.0},
        "b": {"scaled_epochs": 0, "estimated_seconds": 3.0, "assign_seconds": 3.0},
        "c": {"scaled_epochs": 2, "estimated_seconds": 20.0, "assign_seconds": 1.0}}}
    assert stage_deadlines(record, 1000.0) == {"c": 1095.0, "a": 1071.0}  # 1096 - (20 + 3) - 2
    assert stage_deadlines({**record, "unit": "steps"}, 1000.0) == {}
    older = {**record, "stages": {"a": {"scaled_epochs": 5, "assign_seconds": 2.0}}}
    assert stage_deadlines(older, 1000.0) == {}  # a record written before the estimates were kept


def test_below_one_epoch_a_stage_is_cut_at_its_share_of_steps() -> None:
    cut = scale_stage(stage(10), 0.05, steps_per_epoch=100)    # 1000 steps x 0.05 = 50 of one epoch's 100
    assert (cut.epochs, cut.optimizer.max_steps) == (1, 50)
    assert scale_stage(stage(10), 0.05).optimizer.max_steps is None       # no steps per epoch: one epoch
    assert scale_stage(stage(10), 0.15, 100).optimizer.max_steps is None  # round(1.5) = 2 whole epochs
    assert scale_stage(stage(10), 1e-9, 100).optimizer.max_steps == 1     # never below one step
    jule = scale_stage(stage(60, every=20), 1e-3, 10)             # JULE's 3 periods of at least one epoch each
    assert (jule.epochs, jule.optimizer.max_steps) == (3, None)
    cost = StageCost(steps_per_epoch=100, step_seconds=0.5, refresh_seconds=2.0, assign_seconds=3.0,
                     refresh_every=(1,))
    assert cost.steps(cut) == 50 and cost.seconds(cut) == pytest.approx(25 + 2 + 3)  # one refresh, final pass
    config = RunConfig(recipe="r", plugin="p", stages={"a": stage(10)})
    scaled, record = fit_budget(config, {"a": StageCost(100, 0.5, 0.0, 1.0)}, Budget("11s", seconds=11))
    assert scaled.stages["a"].optimizer.max_steps == 20 and record["fits"]  # 20 x 0.5 s + 1 s assignment
    assert (record["stages"]["a"]["steps"], record["stages"]["a"]["scaled_steps"]) == (1000, 20)


def test_outer_batches_are_charged_once_each_by_hand() -> None:
    """A loop labelling 2 outer batches an epoch before their steps (DCCM, SPICE): 100 steps an epoch."""
    cost = StageCost(steps_per_epoch=100, step_seconds=0.5, refresh_seconds=0.0, assign_seconds=3.0,
                     outer_seconds=5.0, outer_per_epoch=2)
    # 3 epochs: 300 steps x 0.5 s + 6 outer batches x 5 s + the final assignment
    assert cost.seconds(stage(3)) == pytest.approx(150 + 30 + 3)
    cut = attrs.evolve(stage(3), optimizer=attrs.evolve(stage(3).optimizer, max_steps=150))
    assert cost.outer_started(cut) == 3  # one whole epoch (2) and the first half of the second
    reaching = attrs.evolve(cut, optimizer=attrs.evolve(cut.optimizer, max_steps=151))
    assert cost.outer_started(reaching) == 4 and cost.seconds(reaching) == pytest.approx(75.5 + 20 + 3)


class SlowLabelling:
    """A loop that spends ``pause`` seconds on each outer batch of 16 images before 4 steps on it."""

    def __init__(self, ctx, pause: float = 0.4) -> None:
        self.pause = pause

    def steps_per_epoch(self, ctx) -> int:
        return 4 * self.outer_batches(ctx)

    def outer_batches(self, ctx) -> int:
        return len(ctx.index_batches(ctx.config.batch_size, 0))

    def epoch(self, ctx, epoch):
        for index in ctx.index_batches(ctx.config.batch_size, epoch):
            time.sleep(self.pause)
            batch = ctx.views(index, ctx.loss_views())
            supervision = ctx.supervision(batch)
            for _ in range(4):
                yield ctx.train_step(batch, supervision)


def slow_labelling_run(n: int) -> Runner:
    """A one-stage run on ``n`` tiny images whose loop is :class:`SlowLabelling` (outer batches of 16)."""
    module = types.ModuleType("slow")
    module.CLUST_HOOK_API = clust_core.HOOK_API_VERSION
    module.clust_loops = clust_core.hookimpl(lambda: [LoopSpec(name="labelling", factory=SlowLabelling)])
    registry = registry_with(slow=module)
    images = tiny_imageset(n=n)
    train = StageConfig(representation=Slot("core.convnet", {"width": 4, "embedding_dim": 8}),
                        assignment=Slot("core.argmax"), epochs=2, batch_size=16, loop=Slot("slow.labelling"),
                        labelers={"km": LabelerSlot("core.kmeans", every=0)},
                        losses={"ce": LossSlot("core.cross_entropy", supervision="km")})
    config = check_config(registry, RunConfig(recipe="r", plugin="p", k=4, stages={"train": train}), images)
    return Runner(registry, config, images, Accelerator("cpu"), None)


def test_the_calibration_charges_a_loops_outer_batches_apart_from_its_steps() -> None:
    """The first step of an epoch carries the outer batch's labelling: it is counted once per outer batch,
    not averaged into the few steps the probe times (SPICE's cluster stage looked 8x dearer than it is)."""
    runner = slow_labelling_run(64)
    config = runner.config
    cost = runner.calibrate(probe_seconds=0.2)["train"]
    assert (cost.steps_per_epoch, cost.outer_per_epoch) == (16, 4)
    assert 0.35 <= cost.outer_seconds <= 0.8 and cost.step_seconds < 0.1, cost  # 0.4 s + a busy CI machine
    assert cost.seconds(config.stages["train"]) >= 8 * 0.35  # 2 epochs x 4 outer batches


def test_a_slow_step_is_probed_once_after_the_first() -> None:
    """The probe times steps after the first until ``seconds`` have passed: one step that alone takes that
    long ends it (two steps in all); quick steps run on to the first outer batch's end (4 steps here)."""
    runner = slow_labelling_run(64)
    quiet = TrainerHooks.silent()
    trainer = StageTrainer(runner.built("train"), runner.images, Accelerator("cpu"), quiet)
    quick = trainer.train_step

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return quick(*args, **kwargs)
    trainer.train_step = slow
    probe = trainer.probe(0.2)
    assert probe.steps == 2 and probe.step_seconds >= 0.3, probe
    trainer.train_step = quick
    assert trainer.probe(60.0).steps == 4


def test_a_refresh_that_would_end_past_the_deadline_is_not_started() -> None:
    """A labeler refreshed every epoch, a refresh estimated at 1,000 s and a deadline 100 s away: the first
    epoch (whose labels exist before any step) trains whole, the second's refresh is not started."""
    runner = slow_labelling_run(64)
    train = runner.config.stages["train"]
    runner.config.stages["train"] = attrs.evolve(
        train, labelers={"km": attrs.evolve(train.labelers["km"], every=1)})
    quiet = TrainerHooks.silent()
    trainer = StageTrainer(runner.built("train"), runner.images, Accelerator("cpu"), quiet)
    trainer.deadline, trainer.refresh_seconds = time.perf_counter() + 100.0, 1000.0
    trainer.fit()
    assert (trainer.epoch, trainer.step, trainer.cut_at) == (1, 16, 16)
    trainer = StageTrainer(runner.built("train"), runner.images, Accelerator("cpu"), quiet)
    trainer.deadline, trainer.refresh_seconds = time.perf_counter() + 100.0, 1.0
    trainer.fit()
    assert (trainer.epoch, trainer.step, trainer.cut_at) == (2, 32, None)


def test_a_slow_assignment_pass_is_timed_on_a_sample_and_scaled() -> None:
    """A pass estimated above ``exact_below`` seconds is timed on ``sample`` images and scaled to all of them;
    a quick one is measured whole (the images the representation sees tell which)."""
    runner = slow_labelling_run(600)
    parts = runner.built("train")
    seen: list[int] = []
    parts.representation.register_forward_hook(lambda module, args, out: seen.append(len(args[0])))
    assert runner._assign_seconds(parts, sample=100, exact_below=0.0) > 0 and sum(seen) == 100
    seen.clear()
    runner._assign_seconds(parts, sample=100, exact_below=1e9)
    assert sum(seen) == 100 + 600


def test_one_time_work_of_the_assignment_is_not_timed() -> None:
    """An assignment whose first fit takes 1 s more (numba compiling on a fresh install) is timed without it."""
    runner = slow_labelling_run(64)
    parts = runner.built("train")
    fit, calls = parts.assignment.fit, []

    def first_fit_slow(outputs):
        calls.append(len(calls))
        if len(calls) == 1:
            time.sleep(1.0)
        return fit(outputs)
    parts.assignment.fit = first_fit_slow
    assert runner._assign_seconds(parts, exact_below=1e9) < 0.5 and len(calls) == 3


def run(tmp_path: Path, *args: str) -> tuple[dict, list[dict], str]:
    result = CliRunner().invoke(build_cli(load_registry()), ["run", "--plugin", "jule", "--set", "report=false",
                                                              "--out", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    run_dir = Path(RUN_DIR.search(result.stdout).group(1))
    return json.loads((run_dir / "summary.json").read_text()), runs.read_metrics(run_dir), result.stderr


def test_a_step_budget_runs_the_whole_periods_that_fit(tmp_path) -> None:
    """JULE on digits: 17 steps an epoch, 3 periods of ``every`` epochs: every = 3 gives 153 steps <= 200
    (every = 4 would take 204)."""
    summary, records, stderr = run(tmp_path, "--budget", "200steps")
    assert summary["budget"]["stages"]["jule"]["scaled_epochs"] == 9
    assert max(r["step"] for r in records if "step" in r) == 153
    assert "budget 200steps: epochs jule 60 -> 9" in stderr
    config = (next(tmp_path.iterdir()) / runs.CONFIG).read_text()
    assert "epochs = 9" in config and "[budget]" in config and "every = 3" in config


def test_a_time_budget_keeps_its_wall_time(tmp_path) -> None:
    """Run plus calibration within the budget, with a tolerance of 50 % + 3 s for a shared CI machine; a
    calibration's probes do not change what the scaled schedule computes."""
    summary, _, _ = run(tmp_path / "timed", "--budget", "12s")
    budget = summary["budget"]
    assert summary["seconds"] + budget["calibration_seconds"] <= 12 * 1.5 + 3, budget
    epochs = budget["stages"]["jule"]["scaled_epochs"]
    every = epochs // 3
    # JULE's steps grow dearer as its clusters merge; where the deadline ended it, the plain run stops there too
    cut = [f"jule.optimizer.max_steps={budget['cut']['jule']['step']}"] if "cut" in budget else []
    plain, _, _ = run(tmp_path / "plain", "--set", f"jule.epochs={epochs}", "--set",
                      f"jule.labelers.clusters.every={every}", *(x for c in cut for x in ("--set", c)))
    assert plain["acc"] == pytest.approx(summary["acc"], abs=1e-9)


def test_the_deadline_ends_a_stage_and_says_where(tmp_path, monkeypatch) -> None:
    """A deadline at the run's start ends JULE's training after its first step; the summary, the metrics and
    the output say so, and the run computed what a plain run of one step computes."""
    monkeypatch.setattr(clust_core.runner, "stage_deadlines", lambda record, start: {"jule": start})
    summary, records, stderr = run(tmp_path / "cut", "--budget", "200steps")
    assert summary["budget"]["cut"] == {"jule": {"step": 1, "of": 153}}
    trained = [r for r in records if r.get("stage") == "jule" and "step" in r]
    assert [(r["epoch"], r["step"]) for r in trained] == [(1, 1)]
    assert trained[0]["stopped"] == "the budget's deadline at step 1 of 153"
    assert "ended training at step 1 of 153" in stderr
    plain, _, _ = run(tmp_path / "plain", "--set", "jule.epochs=9", "--set", "jule.labelers.clusters.every=3",
                      "--set", "jule.optimizer.max_steps=1")
    assert plain["acc"] == pytest.approx(summary["acc"], abs=1e-9)


def test_max_steps_cuts_the_epoch_under_way(tmp_path) -> None:
    """JULE on digits takes 17 steps an epoch; optimizer.max_steps = 5 ends the stage inside its first epoch."""
    _, records, _ = run(tmp_path, "--set", "jule.optimizer.max_steps=5")
    trained = [r for r in records if r.get("stage") == "jule" and "step" in r]
    assert [(r["epoch"], r["step"]) for r in trained] == [(1, 5)]


def test_budget_is_not_accepted_with_resume(tmp_path) -> None:
    result = CliRunner().invoke(build_cli(load_registry()), ["run", "--resume", str(tmp_path), "--budget", "5m"])
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
