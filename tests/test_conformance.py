"""timm-style conformance: every registered component (core and installed plugins) keeps its kind's contract.

A new component is tested here without writing a new test; ``clust_core.testing``
is the same suite for a plugin's own tests.
"""
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import clust_core
from clust_core.components import (Assignment, AssignmentSpec, InputSpec, LossSpec, PseudoLabelerSpec,
                                   RepresentationSpec, Supervision)
from clust_core.data import load_dataset
from clust_core.engine.stage import resolve_stage
from clust_core.recipe import DataInfo
from clust_core.registry import load_registry
from clust_core.testing import (check_component, conformance_params, registry_with, tiny_image_folder,
                                tiny_imageset)

REGISTRY = load_registry()
SHAPES = [(1, 8, 8), (3, 32, 32)]
EXAMPLE_PLUGIN = Path(__file__).parent / "fixtures" / "clust-example-plugin"


def test_every_installed_plugin_loads():
    assert "core" in REGISTRY.plugins
    assert not REGISTRY.broken, [f"{p.name}: {p.error}" for p in REGISTRY.broken]


@pytest.mark.parametrize("name", conformance_params(REGISTRY))
def test_component_conforms(name):
    specs = [table[name] for table in REGISTRY.components.values() if name in table]
    if all(isinstance(s, RepresentationSpec) and all(s.accepts.problem(sh) for sh in SHAPES) for s in specs):
        pytest.skip(f"{name} accepts none of {SHAPES}")
    for shape, k in zip(SHAPES, (4, 10)):
        check_component(REGISTRY, name, shape=shape, k=k)


@pytest.mark.parametrize("recipe", sorted(REGISTRY.recipes))
def test_recipe_resolves(recipe):
    """Every registered recipe's stages resolve against the registry on CIFAR-10-like data."""
    data = DataInfo(name="cifar10", shape=(3, 32, 32), n=60000, k=10)
    earlier = {}
    for name, stage in REGISTRY.recipes[recipe].stages(data).items():
        earlier[name] = resolve_stage(REGISTRY, name, stage, data.shape, earlier)


def test_conformance_params_lists_each_name_once():
    params = conformance_params(REGISTRY)
    assert params == sorted(set(params))
    assert {"core.pixels", "core.convnet", "core.kmeans", "core.argmax", "core.cross_entropy"} <= set(params)


def test_unknown_component_fails():
    with pytest.raises(AssertionError, match="no registered component 'core.nope'"):
        check_component(REGISTRY, "core.nope")


def test_example_plugin_conforms(monkeypatch):
    """The example third-party plugin tested the way its author would, with an in-process registry."""
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    monkeypatch.delitem(sys.modules, "clust_example", raising=False)
    import clust_example

    registry = registry_with(example=clust_example)
    assert registry.plugins["example"].error is None
    assert "example.mlp" in conformance_params(registry)
    for name in conformance_params(registry):
        check_component(registry, name)


# --- the conformance check itself catches broken components ---------------------------------------------------


def _plugin(**hooks) -> types.ModuleType:
    module = types.ModuleType("bad_plugin")
    module.CLUST_HOOK_API = clust_core.HOOK_API_VERSION
    for name, specs in hooks.items():
        setattr(module, name, clust_core.hookimpl(lambda specs=specs: specs))
    return module


class _Net(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, images):
        return self.out(images)


def _rep(out, produces=("embedding",), **kwargs):
    return RepresentationSpec(name="net", factory=lambda ctx: _Net(out), produces=frozenset(produces), **kwargs)


@pytest.mark.parametrize(("out", "message"), [
    (lambda x: {"logits": x.flatten(1)}, "declares \\['embedding'\\]"),
    (lambda x: x.flatten(1), "must return a mapping"),
    (lambda x: {"embedding": x.flatten(1)[:3]}, "batch dim 6"),
    (lambda x: {"embedding": x.flatten(1) / 0}, "not finite"),
])
def test_broken_representation_is_caught(out, message):
    registry = registry_with(bad=_plugin(clust_representations=[_rep(out)]))
    with pytest.raises(AssertionError, match=message):
        check_component(registry, "bad.net")


def test_representation_that_rejects_the_shape_is_skipped():
    spec = _rep(lambda x: None, accepts=InputSpec(channels=(3,)))
    check_component(registry_with(bad=_plugin(clust_representations=[spec])), "bad.net", shape=(1, 8, 8))


@pytest.mark.parametrize(("call", "message"), [
    (lambda outputs: Supervision(labels=outputs["probs"].argmax(1)), "declares \\['labels', 'mask'\\]"),
    (lambda outputs: {"labels": outputs["probs"].argmax(1)}, "must return a Supervision"),
    (lambda outputs: Supervision(labels=torch.zeros(3, dtype=torch.long), mask=torch.ones(3, dtype=torch.bool)),
     "does not have length 20"),
])
def test_broken_labeler_is_caught(call, message):
    spec = PseudoLabelerSpec(name="lab", factory=lambda ctx: call, needs=frozenset({"probs"}),
                             produces=frozenset({"labels", "mask"}))
    with pytest.raises(AssertionError, match=message):
        check_component(registry_with(bad=_plugin(clust_pseudo_labelers=[spec])), "bad.lab")


class _Loss(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, outputs, supervision):
        return self.fn(outputs, supervision)


@pytest.mark.parametrize(("fn", "needs_supervision", "message"), [
    (lambda o, s: o[0]["logits"].sum(1), frozenset(), "scalar tensor"),
    (lambda o, s: o[0]["logits"].sum() / 0, frozenset(), "non-finite"),
    (lambda o, s: o[0]["logits"].sum().detach(), frozenset(), "does not require grad"),
    (lambda o, s: o[0]["logits"].sum() * s.mask.sum(), frozenset({"labels"}), "NoneType"),
])
def test_broken_loss_is_caught(fn, needs_supervision, message):
    spec = LossSpec(name="loss", factory=lambda ctx: _Loss(fn), needs=frozenset({"logits"}),
                    needs_supervision=needs_supervision)
    with pytest.raises((AssertionError, AttributeError), match=message):
        check_component(registry_with(bad=_plugin(clust_losses=[spec])), "bad.loss")


def test_loss_reads_its_declared_views_and_supervision():
    seen = {}

    def fn(outputs, supervision):
        seen.update(views=len(outputs), fields=supervision.fields, pairs=supervision.pairs)
        return sum(view["embedding"].sum() for view in outputs) * supervision.pairs.sum()

    spec = LossSpec(name="loss", factory=lambda ctx: _Loss(fn), needs=frozenset({"embedding"}),
                    needs_supervision=frozenset({"pairs"}), n_views=3)
    check_component(registry_with(ok=_plugin(clust_losses=[spec])), "ok.loss")
    assert seen["views"] == 3 and seen["fields"] == {"pairs"} and torch.equal(seen["pairs"], torch.eye(6))


class _Assign:
    def __init__(self, ctx, labels=None, confidence=None, forget=False):
        self.labels, self.confidence, self.forget, self.fitted = labels, confidence, forget, 0

    def fit(self, outputs):
        self.fitted = 1
        return self.predict(outputs)

    def predict(self, outputs):
        n = len(outputs["probs"])
        labels = self.labels if self.labels is not None else outputs["probs"].argmax(1).numpy() * self.fitted
        confidence = self.confidence if self.confidence is not None else np.ones(n)
        return Assignment(labels, confidence)

    def state_dict(self):
        return {} if self.forget else {"fitted": self.fitted}

    def load_state_dict(self, state):
        self.fitted = state.get("fitted", 0)


@pytest.mark.parametrize(("params", "message"), [
    ({"labels": np.full(20, 7)}, "labels outside"),
    ({"labels": np.zeros(5, dtype=np.int64)}, "shape \\(20,\\)"),
    ({"confidence": np.full(20, 1.5)}, "confidence outside"),
    ({"forget": True}, "does not round-trip"),
])
def test_broken_assignment_is_caught(params, message):
    spec = AssignmentSpec(name="assign", factory=lambda ctx: _Assign(ctx, **params), needs=frozenset({"probs"}))
    with pytest.raises(AssertionError, match=message):
        check_component(registry_with(bad=_plugin(clust_assignments=[spec])), "bad.assign")


class _Taps(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, images):
        return {"deep": self.linear(images.flatten(1)[:, :4])}


def test_outputs_beyond_the_synthesised_ones_come_from_a_representation():
    """A loss needing a tap (``deep``) gets it from the plugin's representation that produces it."""
    rep = RepresentationSpec(name="taps", factory=lambda ctx: _Taps(), produces=frozenset({"deep"}))
    seen = []
    loss = LossSpec(name="tap_loss", factory=lambda ctx: _Loss(lambda o, s: seen.append(o) or o[0]["deep"].mean()),
                    needs=frozenset({"deep"}))
    check_component(registry_with(ok=_plugin(clust_representations=[rep], clust_losses=[loss])), "ok.tap_loss")
    assert seen[0][0]["deep"].shape == (6, 3)
    orphan = LossSpec(name="orphan", factory=lambda ctx: _Loss(lambda o, s: o[0]["nowhere"].sum()),
                      needs=frozenset({"nowhere"}))
    with pytest.raises(AssertionError, match="no registered representation produces \\['nowhere'\\]"):
        check_component(registry_with(bad=_plugin(clust_losses=[orphan])), "bad.orphan")


# --- tiny data ------------------------------------------------------------------------------------------------


def test_tiny_imageset_is_labelled_structured_and_reproducible():
    images = tiny_imageset(n=40, shape=(3, 6, 5), k=5, seed=1)
    assert images.images.shape == (40, 6, 5, 3) and images.images.dtype == np.uint8
    assert images.shape == (3, 6, 5) and images.n_classes == 5
    assert np.bincount(images.labels).tolist() == [8] * 5
    assert np.array_equal(images.images, tiny_imageset(n=40, shape=(3, 6, 5), k=5, seed=1).images)
    assert not np.array_equal(images.images, tiny_imageset(n=40, shape=(3, 6, 5), k=5, seed=2).images)
    flat = images.images.reshape(40, -1).astype(float)
    means = np.stack([flat[images.labels == c].mean(0) for c in range(5)])
    nearest = ((flat[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (nearest == images.labels).all(), "each class should be its own pattern"


@pytest.mark.parametrize("flat", [False, True])
def test_tiny_image_folder_loads_as_folder_dataset(tmp_path, flat):
    root = tiny_image_folder(tmp_path / "imgs", n_per_class=4, classes=("cat", "dog", "owl"), size=10, flat=flat)
    assert root == tmp_path / "imgs"
    dataset = load_dataset(f"folder:{root}")
    assert dataset.n == 12 and dataset.shape == (1, 10, 10)
    assert dataset.name == "folder:imgs"
    if flat:
        assert dataset.labels is None and not any(p.is_dir() for p in root.iterdir())
    else:
        assert sorted(p.name for p in root.iterdir()) == ["cat", "dog", "owl"]
        assert np.bincount(dataset.labels).tolist() == [4, 4, 4]
        assert all(Path(path).parent.name == ["cat", "dog", "owl"][label]
                   for path, label in zip(dataset.paths, dataset.labels))
