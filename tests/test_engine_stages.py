"""Stage features SPICE needs and any method may use: after-step callbacks, labelers over several views,
once-per-stage labels, the labelled stream, starting from an earlier stage and the stage cache."""
from __future__ import annotations

import math
import os
import time

import attrs
import numpy as np
import pytest
import torch

import engine_kit
from clust_core.accelerate import Accelerator
from clust_core.components import BuildContext
from clust_core.config import (LabelerSlot, LossSlot, OptimizerConfig, RepresentationSlot, RunConfig, Slot, StageConfig,
                               ViewConfig)
from clust_core.data import MultiViewDataset, load_dataset
from clust_core import runs
from clust_core.engine.scalars import ScalarLog
from clust_core.report import board
from clust_core.engine.stage import build_stage, resolve_stage
from clust_core.engine.trainer import StageTrainer, TrainerHooks
from clust_core.errors import ClustError
from clust_core.registry import load_registry
from clust_core.runner import Runner
from clust_core.stage_cache import CACHE_DIR_ENV, stage_fingerprint
from clust_spice.labelled import LabelledBatches

AUG = ViewConfig("weak", {"flip": False})


@pytest.fixture(scope="module")
def registry():
    return load_registry(extra={"kit": engine_kit})


@pytest.fixture(scope="module")
def images():
    return load_dataset("digits").subset(range(64))


def stage(**fields) -> StageConfig:
    return StageConfig(**{"representation": Slot("kit.pixels_head"), "assignment": Slot("core.argmax"),
                          "epochs": 1, "batch_size": 16, **fields})


def trainer_for(registry, images, config: StageConfig) -> StageTrainer:
    resolved = resolve_stage(registry, "train", config, images.shape, {})
    parts = build_stage(registry, "train", resolved, BuildContext(shape=images.shape, k=10, n=images.n, dataset="d"))
    hooks = TrainerHooks.silent()
    return StageTrainer(parts, images, Accelerator("cpu"), hooks)


def supervised(**fields) -> StageConfig:
    return stage(labelers={"lab": LabelerSlot("kit.every_fourth", every=0)},
                 losses={"sup": LossSlot("kit.recording_supervised", supervision="lab")}, **fields)


def test_after_step_runs_once_per_main_step(registry, images) -> None:
    trainer = trainer_for(registry, images, supervised())
    trainer.fit()
    assert trainer.step == 4 and trainer.parts.losses["sup"].after_steps == 4


def test_every_zero_labels_once_per_stage(registry, images) -> None:
    trainer = trainer_for(registry, images, supervised(epochs=3))
    trainer.fit()
    assert trainer.parts.labelers["lab"].calls == 1


def test_a_batch_labeler_reads_each_of_its_views_in_order(registry, images) -> None:
    config = stage(views={"clean": ViewConfig(), "aug": AUG},
                   labelers={"two": LabelerSlot("kit.two_views", view=["aug", "clean"])},
                   losses={"ce": LossSlot("core.cross_entropy", views=["aug"], supervision="two")})
    trainer = trainer_for(registry, images, config)
    trainer.fit()
    calls = trainer.parts.labelers["two"].calls
    assert len(calls) == 4 and all(len(call) == 2 for call in calls)
    clean = MultiViewDataset(images, {"clean": trainer.parts.views["clean"]})
    rows = {tuple(clean[i]["clean"].flatten().tolist()) for i in range(images.n)}
    augmented, plain = calls[0]
    assert all(tuple(row.tolist()) in rows for row in plain["embedding"])
    assert not all(tuple(row.tolist()) in rows for row in augmented["embedding"])


def test_a_dataset_labeler_reads_every_image_in_each_view(registry, images) -> None:
    config = stage(views={"clean": ViewConfig(), "aug": AUG},
                   labelers={"two": LabelerSlot("kit.two_views_dataset", view=["clean", "aug"], every=0)},
                   losses={"ce": LossSlot("core.cross_entropy", supervision="two")}, epochs=2)
    trainer = trainer_for(registry, images, config)
    trainer.fit()
    (call,) = trainer.parts.labelers["two"].calls
    assert [len(outputs["probs"]) for outputs in call] == [64, 64]


def test_a_labeler_given_the_wrong_number_of_views_is_refused(registry, images) -> None:
    config = stage(labelers={"two": LabelerSlot("kit.two_views")},
                   losses={"ce": LossSlot("core.cross_entropy", supervision="two")})
    with pytest.raises(ClustError, match=r"reads 2 view\(s\), 1 given"):
        resolve_stage(registry, "train", config, images.shape, {})


def test_the_labelled_stream_leads_each_batch_and_only_it_keeps_labels(registry, images) -> None:
    trainer = trainer_for(registry, images, supervised(batch_size=12, loop=Slot("spice.labelled", {"labeler": "lab", "batch_size": 4})))
    trainer.fit()
    clean = MultiViewDataset(images, {"clean": trainer.parts.views["clean"]})
    index_of = {tuple(clean[i]["clean"].flatten().tolist()): i for i in range(images.n)}
    seen = trainer.parts.losses["sup"].seen
    assert len(seen) == trainer.step == 64 // 12
    for embedding, labels, mask in seen:
        index = torch.tensor([index_of[tuple(row.tolist())] for row in embedding])
        assert len(index) == 16 and mask[:4].all() and not mask[4:].any()
        assert (index[:4] % 4 == 0).all() and torch.equal(labels[:4], index[:4] % 10)
        assert (labels[4:] == -1).all()


def test_the_labelled_stream_needs_a_dataset_labeler_and_labelled_images(registry, images) -> None:
    config = stage(labelers={"lab": LabelerSlot("kit.counting")}, loop=Slot("spice.labelled", {"labeler": "lab"}),
                   losses={"sup": LossSlot("core.cross_entropy", supervision="lab")})
    with pytest.raises(ClustError, match="labelled stream needs 'lab'"):
        resolve_stage(registry, "train", config, images.shape, {})
    with pytest.raises(ClustError, match="labelled stream is empty"):
        LabelledBatches(lambda index: {}, torch.zeros(images.n, dtype=torch.bool), 4, 0, 1, seed=0)


def neighbour_stage(**fields) -> StageConfig:
    return stage(views={"clean": ViewConfig(), "nb": ViewConfig("clean", of="ring")},
                 labelers={"ring": LabelerSlot("kit.ring", every=0)},
                 losses={"agree": LossSlot("kit.agreement", views=["clean", "nb"])}, **fields)


def test_a_neighbour_view_shows_a_neighbour_drawn_from_the_labelers_rows(registry, images) -> None:
    trainer = trainer_for(registry, images, neighbour_stage())
    trainer.fit()
    ring = trainer.dataset_supervision["ring"].neighbours
    assert ring.shape == (64, 3), "neighbours are kept as N x k indices"
    assert all(value.numel() <= 64 * 3 for s in trainer.dataset_supervision.values()
               for value in attrs.asdict(s, recurse=False).values() if value is not None), "no N x N matrix"
    pixels = torch.from_numpy(images.images).permute(0, 3, 1, 2).flatten(1).float() / 255
    offsets = []
    for _ in range(20):
        index = torch.tensor([5, 63, 17, 40])
        batch = trainer.views(index, ["clean", "nb"])
        chosen = batch["nb.index"]
        assert all(int(c) in ring[int(i)].tolist() for i, c in zip(index, chosen))
        assert torch.equal(batch["nb"].flatten(1), pixels[chosen]) and torch.equal(batch["clean"].flatten(1),
                                                                                  pixels[index])
        offsets += ((chosen - index) % 64).tolist()
    assert set(offsets) == {1, 2, 3}, "every neighbour of a row is drawn"
    (anchor, neighbour), *_ = trainer.parts.losses["agree"].pairs
    assert trainer.step == 4 and anchor.shape == neighbour.shape == (16, 64)
    rows = {tuple(row.tolist()): i for i, row in enumerate(pixels)}
    for a, b in zip(anchor, neighbour):
        assert (rows[tuple(b.tolist())] - rows[tuple(a.tolist())]) % 64 in {1, 2, 3}


def test_components_log_scalars_that_reach_each_epoch_record_averaged(registry, images) -> None:
    trainer = trainer_for(registry, images, neighbour_stage(epochs=2))
    records: list[dict] = []
    trainer.hooks.log = records.append
    trainer.fit()
    inner = trainer.parts.losses["agree"].inner
    assert len(inner) == 8 and [r["epoch"] for r in records] == [1, 2]
    assert records[0]["agree/inner"] == pytest.approx(sum(inner[:4]) / 4)
    assert records[1]["agree/inner"] == pytest.approx(sum(inner[4:]) / 4)
    assert records[0]["ring/images"] == 64 and "ring/images" not in records[1], "labelled once, at the start"


def test_the_scalar_log_averages_names_until_drained() -> None:
    log = ScalarLog()
    head = log.prefixed("head")
    for value in (1, 2.0, torch.tensor(6.0)):
        head("x", value)
    log.add("y", float("inf"))
    drained = log.drain()
    assert drained["head/x"] == 3.0 and math.isnan(drained["y"]) and log.drain() == {}


def test_a_run_scores_the_neighbours_and_copies_its_records_to_tensorboard(registry, images, tmp_path) -> None:
    resolved = resolve_stage(registry, "train", neighbour_stage(), images.shape, {})
    config = RunConfig(recipe="test", plugin="kit", stages={"train": resolved}, k=10)
    Runner(registry, config, images, Accelerator("cpu"), tmp_path).run()
    records = runs.read_metrics(tmp_path)
    (scored,) = [r for r in records if "neighbour_purity" in r]
    labels = images.labels
    expected = np.mean([labels[(i + d) % 64] == labels[i] for i in range(64) for d in (1, 2, 3)])
    assert scored["labeler"] == "ring" and scored["neighbour_purity"] == pytest.approx(expected)
    final = next(r for r in records if r.get("final"))
    assert "agree/inner" not in final and "ring/images" in records[0]
    if not board.available():
        pytest.skip("tensorboard is not installed: the records' copy is not written")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / board.BOARD_DIR))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/agree/inner", "train/neighbour_purity", "train/acc"} <= tags
    (value,) = events.Scalars("train/neighbour_purity")
    assert value.value == pytest.approx(expected)


@pytest.mark.parametrize(("labelers", "of"), [
    ({"ring": LabelerSlot("kit.ring", every=0)}, "rign"),
    ({"ring": LabelerSlot("kit.every_fourth", every=0)}, "ring"),
    ({"ring": LabelerSlot("kit.counting")}, "ring"),
])
def test_a_neighbour_view_needs_a_dataset_labeler_publishing_neighbours(registry, images, labelers, of) -> None:
    config = stage(views={"clean": ViewConfig(), "nb": ViewConfig("clean", of=of)}, labelers=labelers,
                   losses={"agree": LossSlot("kit.agreement", views=["clean", "nb"])})
    with pytest.raises(ClustError, match=f"view 'nb' is of the neighbours of '{of}', which must be one of the "
                                         "stage's dataset-scope labelers producing neighbours"):
        resolve_stage(registry, "train", config, images.shape, {})


def two_stage_config(registry, images, **second) -> RunConfig:
    first = resolve_stage(registry, "first", supervised(), images.shape, {})
    later = resolve_stage(registry, "second", stage(representation=RepresentationSlot("kit.adopting", init_from="first"),
                                                    epochs=0, **second), images.shape, {"first": first})
    return RunConfig(recipe="test", plugin="kit", stages={"first": first, "second": later}, k=10)


def test_a_representation_starts_from_an_earlier_stage_its_own_way(registry, images) -> None:
    result = Runner(registry, two_stage_config(registry, images), images, Accelerator("cpu"), None).run()
    (adopted,) = result.parts.representation.adopted
    state, assignment = adopted
    assert torch.equal(result.parts.representation.head.weight, state["head.weight"] + 1)
    assert isinstance(assignment, dict)


def test_a_cached_stage_is_reused_and_a_mismatched_cache_is_refused(registry, images, tmp_path) -> None:
    path = tmp_path / "first.pt"
    config = two_stage_config(registry, images)
    config.stages["first"].representation.cache = str(path)
    logged: list[str] = []
    first = Runner(registry, config, images, Accelerator("cpu"), None).run()
    assert path.is_file() and not any("cached" in line for line in logged)
    again = Runner(registry, config, images, Accelerator("cpu"), None, log=logged.append).run()
    assert any("cached=" in line for line in logged)
    assert torch.equal(first.parts.representation.head.weight, again.parts.representation.head.weight)
    assert (first.assignment.labels == again.assignment.labels).all()
    other = attrs.evolve(config, stages={**config.stages, "first": attrs.evolve(
        config.stages["first"], optimizer=OptimizerConfig(lr=0.5))})
    with pytest.raises(ClustError, match="made from another config or data"):
        Runner(registry, other, images, Accelerator("cpu"), None).run()


def test_the_automatic_cache_is_named_by_the_fingerprint_which_ignores_the_cache_setting(
        registry, images, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path))
    config = two_stage_config(registry, images)
    config.stages["first"].representation.cache = "auto"
    fingerprint = stage_fingerprint(config, "first", images)
    Runner(registry, config, images, Accelerator("cpu"), None).run()
    assert [p.name for p in tmp_path.iterdir()] == [f"first-{fingerprint[:16]}.pt"]
    config.stages["first"].representation.cache = "elsewhere.pt"
    assert stage_fingerprint(config, "first", images) == fingerprint
    assert stage_fingerprint(config, "first", images.subset(range(32))) != fingerprint


def test_a_killed_writers_temporary_cache_file_is_removed_and_a_live_ones_kept(registry, images, tmp_path) -> None:
    path = tmp_path / "first.pt"
    stale, live = tmp_path / "first.pt.abc.tmp", tmp_path / "first.pt.def.tmp"
    for leftover in (stale, live):
        leftover.write_bytes(b"partial")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    config = two_stage_config(registry, images)
    config.stages["first"].representation.cache = str(path)
    Runner(registry, config, images, Accelerator("cpu"), None).run()
    assert path.is_file() and not stale.exists() and live.exists()
