"""The ``dccm`` recipe: paper defaults per dataset, resolvable stages, and a short run on digits."""
import time

import pytest

import clust_dccm
from clust_core import Clusterer
from clust_core.engine.stage import resolve_stage
from clust_core.recipe import DataInfo
from clust_core.testing import registry_with
from clust_dccm.recipe import TERMS, dccm_stages

REGISTRY = registry_with(dccm=clust_dccm)


@pytest.mark.parametrize("name, shape, network, epochs", [
    ("cifar10", (3, 32, 32), "dccm.net32", 200), ("npz:cifar10_subset5k", (3, 32, 32), "dccm.net32", 200),
    ("stl10", (3, 96, 96), "dccm.net96", 200), ("tiny_imagenet", (3, 64, 64), "dccm.net64", 200),
    ("npz:mnist_test", (1, 28, 28), "dccm.net_small", 15), ("npz:usps", (1, 16, 16), "dccm.net_small", 15),
    ("digits", (1, 8, 8), "dccm.net_small", 3),
])
def test_stage_has_the_paper_defaults_and_resolves(name, shape, network, epochs):
    stage = dccm_stages(DataInfo(name, shape, 1000, 10))["train"]
    assert stage.representation.component == network and stage.epochs == epochs
    assert {k: (s.weight, s.views, s.supervision) for k, s in stage.losses.items()} == {
        "graph": (1.0, ["clean"], "graph"), "graph_aug": (1.0, ["aug"], "graph"),
        "label": (5.0, ["clean"], "label"), "label_aug": (5.0, ["aug"], "label"), "mi": (0.1, ["aug"], "graph")}
    loop = stage.loop.params
    assert stage.loop.component == "core.outer_inner"
    assert (stage.batch_size, loop["repeats"], loop["inner_batch"], loop["draws"]) == (1000, 10, 32, 2)
    assert (stage.optimizer.name, stage.optimizer.lr, stage.optimizer.alpha) == ("rmsprop", 1e-4, 0.9)
    assert stage.views["aug"].augmentation == "dccm" and stage.evaluation.batchnorm == "batch"
    assert stage.views["aug"].params == {"channel_shift_per_channel": True}
    resolved = resolve_stage(REGISTRY, "train", stage, shape, {})
    assert resolved.labelers["graph"].params == {"threshold": 0.95}
    assert resolved.labelers["label"].params == {"threshold": 0.9}


def test_ablation_terms():
    data = DataInfo("cifar10", (3, 32, 32), 60000, 10)
    assert set(dccm_stages(data, terms=["graph"])["train"].losses) == {"graph"}
    assert set(dccm_stages(data)["train"].losses) == set(TERMS)
    with pytest.raises(ValueError):
        dccm_stages(data, terms=["l2"])


def test_short_run_on_digits_beats_chance():
    # Shortened schedule (2 of 10 inner repeats, 3 epochs) and a 64-wide discriminator on the paper's taps
    # (512 in the paper; digits' default is the first-pool tap, 128 wide) to fit the suite's time budget on two
    # CPU cores; measured ACC 0.596 in 68-83 s.
    started = time.time()
    model = Clusterer("dccm", seed=0, device="cpu", train__epochs=3, train__loop__params__repeats=2, train__eval_every=0,
                      train__losses__mi__params__hidden=64, train__representation__params__taps="paper",
                      train__losses__mi__params__taps="paper").fit("digits")
    assert model.metrics_["acc"] >= 0.5, model.metrics_
    assert model.config_.stages["train"].losses.keys() == set(TERMS)
    print(f"dccm short run on digits: {model.metrics_} in {time.time() - started:.1f} s")


def test_the_outer_inner_loop_keeps_algorithm_1s_step_count_on_digits():
    """Before the loop became a component the trainer counted outer batches x repeats x inner batches x draws:
    1797 images, one outer batch of 1000, 10 repeats of 31 mini-batches of 32, 2 draws = 620 steps."""
    from clust_core.accelerate import Accelerator
    from clust_core.data import load_dataset
    from clust_core.engine.trainer import StageTrainer, TrainerHooks
    from clust_core.registry import load_registry
    from clust_core.resolve import RunRequest, resolve
    from clust_core.runner import Runner

    registry = load_registry()
    config, images = resolve(registry, RunRequest(plugin="dccm", sets=["train.losses.mi.params.hidden=16"],
                                                  device="cpu"), images=load_dataset("digits"))
    parts = Runner(registry, config, images, Accelerator("cpu"), None).built("train")
    hooks = TrainerHooks.silent()
    assert StageTrainer(parts, images, Accelerator("cpu"), hooks).steps_per_epoch == 1 * 10 * 31 * 2


@pytest.mark.parametrize(("name", "shape", "taps", "hidden"), [
    ("cifar10", (3, 32, 32), "paper", 512), ("stl10", (3, 96, 96), "paper", 512),
    ("npz:mnist_test", (1, 28, 28), "code", 128), ("digits", (1, 8, 8), "code", 128),
])
def test_the_mi_term_is_the_papers_on_its_data_and_the_measured_choice_elsewhere(name, shape, taps, hidden):
    stage = dccm_stages(DataInfo(name, shape, 1000, 10))["train"]
    assert stage.representation.params["taps"] == stage.losses["mi"].params["taps"] == taps
    resolved = resolve_stage(REGISTRY, "train", stage, shape, {})
    assert resolved.losses["mi"].params["hidden"] == hidden
