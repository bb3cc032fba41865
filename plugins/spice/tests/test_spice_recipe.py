"""The ``spice`` and ``spice-self`` recipes: paper defaults per dataset, every component's contract,
the stage cache, and a short run on digits."""
import time

import pytest

import clust_spice
from clust_core import Clusterer
from clust_core.engine.stage import resolve_stage
from clust_core.recipe import DataInfo
from clust_core.testing import check_component, conformance_params, registry_with
from clust_spice.recipe import FIXMATCH_ITERATIONS, spice_self_stages, spice_stages

REGISTRY = registry_with(spice=clust_spice)
SPICE_COMPONENTS = [name for name in conformance_params(REGISTRY) if name.startswith("spice.")]


@pytest.mark.parametrize("name", SPICE_COMPONENTS)
def test_component_keeps_its_contract(name):
    check_component(REGISTRY, name)


def test_cifar10_gets_the_papers_schedule():
    data = DataInfo("cifar10", (3, 32, 32), 60000, 10)
    stages = spice_stages(data)
    pretrain, cluster, joint = stages["pretrain"], stages["cluster"], stages["joint"]
    assert pretrain.representation.params == {"backbone": "resnet18_cifar"}
    assert (pretrain.epochs, pretrain.batch_size, pretrain.optimizer.lr, pretrain.optimizer.schedule) == \
        (1000, 128, 0.015, "cosine")
    assert pretrain.losses["infonce"].params == {"queue_size": 12800} and pretrain.representation.cache == "auto"
    assert pretrain.views["query"].augmentation == "mocov2" and pretrain.views["query"].params == {"flip": True}
    inner = cluster.loop.params
    assert (cluster.epochs, cluster.batch_size, inner["repeats"], inner["inner_batch"]) == (30, 5000, 8, 128)
    assert (cluster.optimizer.name, cluster.optimizer.lr, cluster.representation.init_from) == ("adam", 0.005, "pretrain")
    assert cluster.labelers["prototype"].view == ["weak", "clean"]
    assert cluster.views["strong"].augmentation == "scan_strong"
    assert joint.labelers["reliable"].params == {"ratio": 0.99} and joint.labelers["reliable"].every == 0
    stream = joint.loop.params
    assert joint.loop.component == "spice.labelled"
    assert (joint.batch_size, stream["batch_size"], stream["labeler"]) == (448, 64, "reliable")
    assert joint.epochs == -(-FIXMATCH_ITERATIONS // (60000 // 448))
    assert (joint.optimizer.lr, joint.optimizer.nesterov, joint.optimizer.weight_decay, joint.optimizer.schedule) == \
        (0.03, True, 5e-4, "fixmatch")
    assert joint.views["strong"].augmentation == "fixmatch_strong" and joint.representation.init_from == "cluster"
    for name, stage in stages.items():
        resolve_stage(REGISTRY, name, stage, data.shape, {k: v for k, v in stages.items() if k != name})


@pytest.mark.parametrize("name, shape, backbone, ratio", [
    ("stl10", (3, 96, 96), "resnet34", 0.9), ("npz:mnist_test", (1, 28, 28), "convnet_small", 0.9),
    ("digits", (1, 8, 8), "convnet_small", 0.9),
])
def test_backbone_threshold_and_flips_follow_the_data(name, shape, backbone, ratio):
    stages = spice_stages(DataInfo(name, shape, 2000, 10))
    assert {s.representation.params["backbone"] for s in stages.values()} == {backbone}
    assert stages["joint"].labelers["reliable"].params == {"ratio": ratio}
    grey = shape[0] == 1
    assert all(view.params.get("flip", True) is not grey for s in stages.values()
               for key, view in s.views.items() if key != "clean")
    assert stages["cluster"].batch_size == 2000


def test_spice_self_is_the_first_two_stages():
    assert list(spice_self_stages(DataInfo("digits", (1, 8, 8), 1797, 10))) == ["pretrain", "cluster"]


def test_short_run_on_digits_beats_chance_and_reuses_its_features(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUST_CACHE_DIR", str(tmp_path))
    started = time.time()
    # Shortened for the suite's budget on two CPU cores (paper: 1000 / 30-100 epochs, 8 repeats, 2^20 steps).
    overrides = dict(seed=0, device="cpu", pretrain__epochs=15, cluster__epochs=4, cluster__loop__params__repeats=2,
                     cluster__eval_every=0, joint__epochs=2, joint__eval_every=0)
    model = Clusterer("spice", **overrides).fit("digits")
    first = time.time() - started
    assert model.metrics_["acc"] >= 0.45, model.metrics_  # measured 0.547 (chance 0.1)
    assert len(list(tmp_path.glob("pretrain-*.pt"))) == 1
    again = Clusterer("spice-self", **{k: v for k, v in overrides.items() if not k.startswith("joint")}).fit("digits")
    assert again.metrics_["acc"] >= 0.45, again.metrics_  # measured 0.618
    print(f"spice short run on digits: {model.metrics_} in {first:.1f} s; spice-self reusing stage 1: "
          f"{again.metrics_} in {time.time() - started - first:.1f} s")
