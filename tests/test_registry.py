"""The plugin contract: hook specs, the registry, stage resolution and config settings.

Plugins here are in-process modules (``types.ModuleType``) so every test is hermetic;
installed plugins are faked by patching ``importlib.metadata.entry_points``.
"""
import inspect
import os
import sys
import types
from importlib import metadata

import attrs
import click
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import clust_core
from clust_core import hookspecs
from clust_core import registry as registry_module
from clust_core.builtin.recipes import kmeans_stages
from clust_core.accelerate import Accelerator
from clust_core.components import (AssignmentSpec, BuildContext, InputSpec, LoopSpec, LossSpec, PseudoLabelerSpec,
                                   RepresentationSpec, Supervision)
from clust_core.config import (DataConfig, EvaluationConfig, LabelerSlot, LossSlot, OptimizerConfig,
                               RepresentationSlot, RunConfig, Slot, StageConfig, ViewConfig)
from clust_core.data import load_dataset
from clust_core.engine.optim import make_optimizer, make_scheduler
from clust_core.engine.stage import build_stage, resolve_stage
from clust_core.engine.trainer import StageTrainer, TrainerHooks
from clust_core.errors import ClustError
from clust_core.recipe import DataInfo, RecipeSpec
from clust_core.registry import load_registry
from clust_core.settings import apply_set, from_dict, parse_value, read_toml, to_dict, write_toml
from clust_core.testing import registry_with


def plugin(name: str = "plug", api=clust_core.HOOK_API_VERSION, **hooks) -> types.ModuleType:
    """A plugin module whose hooks are ``hooks`` (hook name → function or list of specs to return)."""
    module = types.ModuleType(name)
    if api is not None:
        module.CLUST_HOOK_API = api
    for hook, impl in hooks.items():
        function = impl if callable(impl) else (lambda value=impl: value)
        setattr(module, hook, clust_core.hookimpl(function))
    return module


class Net(nn.Module):
    """A representation producing ``embedding``, ``logits`` and ``probs`` from flattened pixels."""

    def __init__(self, ctx, width: int = 4):
        super().__init__()
        self.linear = nn.Linear(ctx.shape[0] * ctx.shape[1] * ctx.shape[2], width)

    def forward(self, images):
        embedding = self.linear(images.flatten(1))
        return {"embedding": embedding, "logits": embedding, "probs": embedding.softmax(dim=1)}


def rep(name: str = "net", **kwargs) -> RepresentationSpec:
    return RepresentationSpec(name=name, factory=Net, params={"width": 4},
                              produces=frozenset({"embedding", "logits", "probs"}), **kwargs)


def recipe(name: str) -> RecipeSpec:
    return RecipeSpec(name=name, stages=kmeans_stages)


def entry_points(monkeypatch, **entries: str) -> None:
    """Make ``importlib.metadata.entry_points`` (as the registry calls it) return fake plugins ``name=module``."""
    fake = [metadata.EntryPoint(name=name, value=value, group=registry_module.ENTRY_POINT_GROUP)
            for name, value in entries.items()]
    monkeypatch.setattr(registry_module.metadata, "entry_points", lambda group: fake)


# --- registry ---------------------------------------------------------------------------------------------------


def test_core_is_always_registered_as_plugin_core():
    registry = registry_with()
    assert registry.plugins["core"].error is None and registry.plugins["core"].distribution == "clust-core"
    assert [p.name for p in registry.working] == ["core"] and registry.broken == []
    assert {"core.pixels", "core.convnet"} <= set(registry.components["representation"])
    assert registry.recipes["kmeans"].plugin == "core"


def test_representations_hook_registers_with_plugin_prefix():
    registry = registry_with(mine=plugin(clust_representations=[rep("net")], clust_recipes=[recipe("mine")]))
    spec = registry.component("representation", "mine.net")
    assert spec.name == "mine.net" and spec.kind == "representation"
    assert registry.recipes["mine"].plugin == "mine"
    assert registry.plugins["mine"].distribution == "(in process)"


def test_every_kind_registers_under_its_own_table():
    labeler = PseudoLabelerSpec(name="lab", factory=lambda ctx: None, needs=frozenset({"probs"}),
                                produces=frozenset({"labels"}))
    loss = LossSpec(name="loss", factory=lambda ctx: None, needs=frozenset({"logits"}))
    registry = registry_with(mine=plugin(clust_pseudo_labelers=[labeler], clust_losses=[loss]))
    assert registry.component("pseudo_labeler", "mine.lab").needs == {"probs"}
    assert registry.find_component("mine.loss").kind == "loss"
    with pytest.raises(ClustError, match="unknown representation 'mine.lab'"):
        registry.component("representation", "mine.lab")


def test_pseudo_labelers_hook_duplicate_name_breaks_only_that_plugin():
    spec = PseudoLabelerSpec(name="lab", factory=lambda ctx: None, needs=frozenset(), produces=frozenset())
    registry = registry_with(bad=plugin(clust_pseudo_labelers=[spec, spec], clust_representations=[rep()]),
                             good=plugin(clust_pseudo_labelers=[spec]))
    assert "component 'bad.lab' is registered twice" in registry.plugins["bad"].error
    assert "bad.net" not in registry.components["representation"], "a broken plugin contributes nothing"
    assert registry.plugins["good"].error is None and "good.lab" in registry.components["pseudo_labeler"]


def test_a_hook_returning_the_wrong_spec_type_breaks_the_plugin():
    registry = registry_with(bad=plugin(clust_losses=[rep()]))
    assert "clust_losses returned RepresentationSpec, expected LossSpec" in registry.plugins["bad"].error


def test_recipes_hook_clash_breaks_the_later_plugin():
    registry = registry_with(first=plugin(clust_recipes=[recipe("shared")]),
                             second=plugin(clust_recipes=[recipe("shared")], clust_representations=[rep()]))
    assert registry.plugins["first"].error is None and registry.recipes["shared"].plugin == "first"
    assert registry.plugins["second"].error == "recipe 'shared' already registered by plugin 'first'; refused"
    assert "second.net" not in registry.components["representation"]


def test_a_recipe_clashing_with_core_is_refused():
    registry = registry_with(mine=plugin(clust_recipes=[recipe("kmeans")]))
    assert "recipe 'kmeans' already registered by plugin 'core'" in registry.plugins["mine"].error


def test_losses_hook_that_raises_breaks_the_plugin_and_core_still_works():
    def boom():
        raise RuntimeError("boom")

    registry = registry_with(bad=plugin(clust_losses=boom))
    assert registry.plugins["bad"].error == "hook failed: RuntimeError('boom')"
    assert registry.plugins["core"].error is None
    assert registry.recipe_for("core").name == "kmeans"
    assert "core.cross_entropy" in registry.components["loss"]
    assert not registry.manager.is_registered(registry.manager.get_plugin("bad")), "the broken module is unregistered"


@pytest.mark.parametrize("api", [999, None, "1"])
def test_a_plugin_declaring_another_hook_api_is_broken(api):
    registry = registry_with(old=plugin(api=api, clust_representations=[rep()]))
    assert "hook API" in registry.plugins["old"].error and repr(api) in registry.plugins["old"].error
    assert "old.net" not in registry.components["representation"]


def test_a_misspelled_hook_is_refused_by_check_pending():
    registry = registry_with(typo=plugin(clust_representation=lambda: [rep()]),
                             after=plugin(clust_representations=[rep()]))
    assert "unknown hook 'clust_representation'" in registry.plugins["typo"].error
    assert registry.plugins["after"].error is None, "a later plugin is not blamed for the typo"


def test_an_entry_point_that_fails_to_import_is_broken(monkeypatch):
    monkeypatch.delenv("CLUST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("CLUST_PLUGINS", raising=False)
    entry_points(monkeypatch, ghost="nonexistent_mod_xyz")
    registry = load_registry()
    assert registry.plugins["ghost"].error.startswith("import failed: ModuleNotFoundError")
    assert "nonexistent_mod_xyz" in registry.plugins["ghost"].error
    assert registry.plugins["core"].error is None
    with pytest.raises(ClustError, match="plugin 'ghost' is broken: import failed"):
        registry.recipe_for("ghost")


def test_an_installed_plugin_loads_from_its_entry_point(monkeypatch):
    monkeypatch.delenv("CLUST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("CLUST_PLUGINS", raising=False)
    monkeypatch.setitem(sys.modules, "fake_clust_plugin_a", plugin(clust_representations=[rep()]))
    entry_points(monkeypatch, a="fake_clust_plugin_a")
    registry = load_registry()
    assert registry.plugins["a"].error is None and "a.net" in registry.components["representation"]


def test_an_installed_plugin_named_like_a_loaded_one_is_refused(monkeypatch):
    monkeypatch.delenv("CLUST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("CLUST_PLUGINS", raising=False)
    monkeypatch.setitem(sys.modules, "fake_clust_core", plugin(clust_representations=[rep()]))
    entry_points(monkeypatch, core="fake_clust_core")
    registry = load_registry()
    assert registry.plugins["core"].error is None and registry.plugins["core"].distribution == "clust-core"
    assert "duplicate plugin name 'core'" in registry.plugins["core (unknown)"].error
    assert "core.net" not in registry.components["representation"]


def test_an_in_process_plugin_named_core_leaves_core_working():
    registry = registry_with(core=plugin())
    assert registry.plugins["core"].error is None
    assert registry.recipe_for("core").name == "kmeans"


@pytest.fixture
def two_installed(monkeypatch):
    """Fake installed plugins ``a`` and ``b``, autoload and allow-list switches cleared."""
    monkeypatch.delenv("CLUST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("CLUST_PLUGINS", raising=False)
    for name in "ab":
        monkeypatch.setitem(sys.modules, f"fake_clust_plugin_{name}", plugin(clust_representations=[rep()]))
    entry_points(monkeypatch, a="fake_clust_plugin_a", b="fake_clust_plugin_b")


def test_disable_autoload_loads_no_entry_point(monkeypatch, two_installed):
    assert {"a", "b"} <= set(load_registry().plugins)
    monkeypatch.setenv("CLUST_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert set(load_registry().plugins) == {"core"}
    assert set(load_registry(extra={"mine": plugin()}).plugins) == {"core", "mine"}


@pytest.mark.parametrize(("allow", "loaded"), [("a", {"core", "a"}), ("a, b", {"core", "a", "b"}), ("", {"core"})])
def test_plugins_allow_list_loads_only_the_named(monkeypatch, two_installed, allow, loaded):
    monkeypatch.setenv("CLUST_PLUGINS", allow)
    registry = load_registry()
    assert set(registry.plugins) == loaded
    assert ("b.net" in registry.components["representation"]) == ("b" in loaded)


def test_registry_with_restores_the_autoload_switch(monkeypatch):
    monkeypatch.setenv("CLUST_DISABLE_PLUGIN_AUTOLOAD", "")
    registry_with()
    assert os.environ["CLUST_DISABLE_PLUGIN_AUTOLOAD"] == ""
    monkeypatch.delenv("CLUST_DISABLE_PLUGIN_AUTOLOAD")
    registry_with()
    assert "CLUST_DISABLE_PLUGIN_AUTOLOAD" not in os.environ


def test_trace_plugins_traces_hook_calls_to_stderr(monkeypatch, capsys):
    monkeypatch.setenv("CLUST_TRACE_PLUGINS", "1")
    registry = registry_with()
    registry.manager.hook.clust_cli_commands(cli=click.Group())
    assert "clust_cli_commands" in capsys.readouterr().err


def test_trace_plugins_traces_discovery_hooks(monkeypatch, capsys):
    monkeypatch.setenv("CLUST_TRACE_PLUGINS", "1")
    registry_with()
    assert "clust_representations" in capsys.readouterr().err


def test_no_trace_without_the_switch(monkeypatch, capsys):
    monkeypatch.delenv("CLUST_TRACE_PLUGINS", raising=False)
    registry_with().manager.hook.clust_cli_commands(cli=click.Group())
    assert capsys.readouterr().err == ""


def test_unknown_component_suggests_the_closest_name():
    registry = registry_with()
    with pytest.raises(ClustError, match="unknown assignment 'core.kmean'; did you mean 'core.kmeans'"):
        registry.component("assignment", "core.kmean")
    with pytest.raises(ClustError, match="unknown component 'core.convnt'; did you mean 'core.convnet'"):
        registry.find_component("core.convnt")
    with pytest.raises(ClustError) as error:
        registry.component("loss", "zzz")
    assert "did you mean" not in str(error.value)


def test_recipe_for_resolves_plugin_and_recipe_names():
    registry = registry_with(
        solo=plugin(clust_recipes=[recipe("solo_method")]),
        multi=plugin(clust_recipes=[recipe("multi_a"), recipe("multi_b")]),
        named=plugin(clust_recipes=[recipe("named"), recipe("named_lite")]),
        empty=plugin(clust_representations=[rep()]))
    assert registry.recipe_for("solo").name == "solo_method"
    assert registry.recipe_for("core").name == "kmeans"
    assert registry.recipe_for("multi", "multi_b").name == "multi_b"
    with pytest.raises(ClustError, match="belongs to plugin"):
        registry.recipe_for("core", "solo_method")
    assert registry.recipe_for("named").name == "named", "a recipe named like its plugin is the default"
    with pytest.raises(ClustError, match=r"plugin 'multi' has several recipes \(multi_a, multi_b\): pass --recipe"):
        registry.recipe_for("multi")
    with pytest.raises(ClustError, match="plugin 'empty' defines no recipe: pass --recipe"):
        registry.recipe_for("empty")
    with pytest.raises(ClustError, match="unknown recipe 'multi_c'; did you mean 'multi_[ab]'"):
        registry.recipe_for("multi", "multi_c")
    with pytest.raises(ClustError, match="unknown plugin 'sollo'; did you mean 'solo'.*installed:"):
        registry.recipe_for("sollo")


def test_augmentations_hook_adds_named_factories_usable_in_views():
    def invert(shape, strength: float = 1.0):
        return lambda image: 1.0 - image.float() / 255 * strength

    registry = registry_with(mine=plugin(clust_augmentations=lambda: {"invert": invert}))
    assert registry.augmentations["invert"] is invert
    config = StageConfig(representation=Slot("core.pixels"), assignment=Slot("core.kmeans"),
                         views={"clean": ViewConfig(), "inv": ViewConfig("invert", {"strength": 0.5})})
    assert resolve_stage(registry, "s", config, (1, 8, 8), {}).views["inv"].augmentation == "invert"
    clash = registry_with(mine=plugin(clust_augmentations=lambda: {"invert": invert}),
                          other=plugin(clust_augmentations=lambda: {"invert": invert}))
    assert clash.plugins["other"].error == "augmentation 'invert' already registered; refused"
    shadow = registry_with(mine=plugin(clust_augmentations=lambda: {"weak": invert}))
    assert shadow.plugins["mine"].error == "augmentation 'weak' already registered; refused"


def test_schedules_hook_adds_named_schedules_a_stage_can_use_with_params():
    def halving(total_steps, every: int = 10):
        if every < 1:
            raise ValueError("every must be >= 1")
        return lambda step: 0.5 ** (step // every)

    registry = registry_with(mine=plugin(clust_schedules=lambda: {"halving": halving}))
    assert registry.schedules["halving"] is halving
    config = stage(optimizer=OptimizerConfig(schedule="halving", schedule_params={"every": 5}))
    resolved = resolve_stage(registry, "s", config, GREY, {})
    param = nn.Parameter(torch.zeros(1))
    optimizer = make_optimizer(resolved.optimizer, [param])
    scheduler = make_scheduler(resolved.optimizer, optimizer, 100, registry.schedules)
    for _ in range(12):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.25)
    for bad, message in [({"evry": 5}, "schedule halving has no parameter 'evry': it takes every"),
                         ({"every": 0}, "bad parameter for schedule halving: every must be >= 1")]:
        with pytest.raises(ClustError, match=f"stage 's': {message}"):
            resolve_stage(registry, "s", stage(optimizer=OptimizerConfig(schedule="halving", schedule_params=bad)),
                          GREY, {})
    with pytest.raises(ClustError, match="stage 's': unknown schedule 'halfing'"):
        resolve_stage(registry, "s", stage(optimizer=OptimizerConfig(schedule="halfing")), GREY, {})
    clash = registry_with(mine=plugin(clust_schedules=lambda: {"cosine": halving}))
    assert clash.plugins["mine"].error == "schedule 'cosine' already registered; refused"


def test_an_adversary_optimizer_with_a_schedule_is_refused_not_ignored():
    slot = LossSlot("core.cross_entropy", supervision="km", adversary_optimizer=OptimizerConfig(schedule="cosine"))
    with pytest.raises(ClustError, match="an adversary's optimizer keeps its base rate; its schedule must be "
                                         "'constant', got 'cosine'"):
        resolve_stage(load_registry(), "s", stage(losses={"ce": slot}), GREY, {})


def test_cli_commands_hook_adds_a_subcommand():
    from clust_core.cli.main import build_cli

    def add(cli):
        @cli.command("hello-mine")
        def hello():
            click.echo("hello from mine")

    cli = build_cli(registry_with(mine=plugin(clust_cli_commands=add)))
    result = CliRunner().invoke(cli, ["hello-mine"])
    assert result.exit_code == 0 and result.output == "hello from mine\n"


def test_a_failing_cli_commands_hook_marks_its_plugin_broken_and_the_cli_still_works():
    from clust_core.cli.main import build_cli

    def explode(cli):
        raise RuntimeError("boom")

    registry = registry_with(bad=plugin(clust_cli_commands=explode))
    result = CliRunner().invoke(build_cli(registry), ["plugins"])
    assert result.exit_code == 0, result.output
    assert "BROKEN: clust_cli_commands failed: RuntimeError('boom')" in result.output


def test_assignments_hook_registers_an_assignment():
    spec = AssignmentSpec(name="first", factory=lambda ctx: None, needs=frozenset({"probs"}))
    registry = registry_with(mine=plugin(clust_assignments=[spec]))
    assert registry.component("assignment", "mine.first").needs == {"probs"}
    assert registry.find_component("mine.first").kind == "assignment"


class Repeating:
    """A third-party loop: every batch trains ``times`` steps, each on a fresh draw of the loss views."""

    def __init__(self, ctx, times: int = 2):
        self.times = times

    def steps_per_epoch(self, ctx):
        return self.times * len(ctx.index_batches(ctx.config.batch_size, 0))

    def epoch(self, ctx, epoch):
        for index in ctx.index_batches(ctx.config.batch_size, epoch):
            supervision = ctx.supervision(ctx.views(index, ctx.labeler_views()))
            for _ in range(self.times):
                yield ctx.train_step(ctx.views(index, ctx.loss_views()), supervision)


def test_loops_hook_registers_a_loop_that_trains_a_stage_and_checks_it_first():
    def needs_two_views(stage, labelers):
        return None if len(stage.views) > 1 else "needs a second view"

    spec = LoopSpec(name="repeating", factory=Repeating, params={"times": 2}, check=needs_two_views)
    registry = registry_with(mine=plugin(clust_loops=[spec]))
    images = load_dataset("digits").subset(range(64))
    config = stage(representation=Slot("core.convnet", {"width": 4, "embedding_dim": 8}), epochs=1, batch_size=16,
                   labelers={"km": LabelerSlot("core.kmeans", every=0)},
                   views={"clean": ViewConfig(), "aug": ViewConfig("weak", {"flip": False})},
                   losses={"ce": LossSlot("core.cross_entropy", views=["aug"], supervision="km")},
                   loop=Slot("mine.repeating", {"times": 3}))
    resolved = resolve_stage(registry, "train", config, images.shape, {})
    parts = build_stage(registry, "train", resolved, BuildContext(shape=images.shape, k=10, n=64, dataset="d"))
    hooks = TrainerHooks.silent()
    trainer = StageTrainer(parts, images, Accelerator("cpu"), hooks)
    trainer.fit()
    assert trainer.step == 3 * 4 and trainer.scheduler.last_epoch == trainer.step
    with pytest.raises(ClustError, match="stage 'train': loop mine.repeating: needs a second view"):
        resolve_stage(registry, "train", attrs.evolve(config, views={"clean": ViewConfig()},
                                                      losses={"ce": LossSlot("core.cross_entropy", supervision="km")}),
                      images.shape, {})
    with pytest.raises(ClustError, match="'mine.repeating' has no parameter 'tims'"):
        resolve_stage(registry, "train", attrs.evolve(config, loop=Slot("mine.repeating", {"tims": 3})),
                      images.shape, {})
    with pytest.raises(ClustError, match="unknown loop 'mine.repeat'"):
        resolve_stage(registry, "train", attrs.evolve(config, loop=Slot("mine.repeat")), images.shape, {})


HOOK_TESTS = {
    "clust_loops": test_loops_hook_registers_a_loop_that_trains_a_stage_and_checks_it_first,
    "clust_representations": test_representations_hook_registers_with_plugin_prefix,
    "clust_pseudo_labelers": test_pseudo_labelers_hook_duplicate_name_breaks_only_that_plugin,
    "clust_losses": test_losses_hook_that_raises_breaks_the_plugin_and_core_still_works,
    "clust_assignments": test_assignments_hook_registers_an_assignment,
    "clust_recipes": test_recipes_hook_clash_breaks_the_later_plugin,
    "clust_augmentations": test_augmentations_hook_adds_named_factories_usable_in_views,
    "clust_schedules": test_schedules_hook_adds_named_schedules_a_stage_can_use_with_params,
    "clust_cli_commands": test_cli_commands_hook_adds_a_subcommand,
}
"""Each hook of :mod:`clust_core.hookspecs` → the test that exercises it (checked by the meta-test below)."""


def test_every_hook_has_a_test():
    """datasette's meta-test: adding a hook to hookspecs without a test here fails."""
    specs = {name for name, value in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("clust_")}
    assert specs == set(HOOK_TESTS)
    assert specs == {name for name in vars(registry_with().manager.hook) if name.startswith("clust_")}
    for hook, test in HOOK_TESTS.items():
        assert globals().get(test.__name__) is test and test.__name__.startswith("test_"), hook


# --- resolve_stage: checking a mix of components before training -------------------------------------------------


def stage(**kwargs) -> StageConfig:
    """A valid stage (convnet + k-means labels + cross-entropy + argmax) with ``kwargs`` replaced."""
    values = dict(representation=Slot("core.convnet"), assignment=Slot("core.argmax"),
                  labelers={"km": LabelerSlot("core.kmeans")},
                  losses={"ce": LossSlot("core.cross_entropy", supervision="km")}, epochs=2)
    return StageConfig(**{**values, **kwargs})


GREY = (1, 8, 8)


def test_a_valid_mix_resolves_and_fills_default_params():
    resolved = resolve_stage(registry_with(), "train", stage(), GREY, {})
    assert resolved.representation.params == {"width": 64, "embedding_dim": 128, "batchnorm": True}
    assert resolved.labelers["km"].params == {"n_iter": 20, "n_redo": 1, "l2_normalize": True}
    assert resolved.losses["ce"].params == {"label_smoothing": 0.0}
    assert resolved.assignment.params == {}
    assert resolved.losses["ce"].supervision == "km" and resolved.epochs == 2


def test_given_params_override_defaults_and_are_coerced():
    config = stage(representation=Slot("core.convnet", {"width": 8}),
                   losses={"ce": LossSlot("core.cross_entropy", {"label_smoothing": 1}, supervision="km")})
    resolved = resolve_stage(registry_with(), "train", config, GREY, {})
    assert resolved.representation.params["width"] == 8
    assert resolved.losses["ce"].params["label_smoothing"] == 1.0
    assert isinstance(resolved.losses["ce"].params["label_smoothing"], float)


def test_resolve_does_not_mutate_its_input():
    config = stage()
    resolve_stage(registry_with(), "train", config, GREY, {})
    assert config.representation.params == {} and config.losses["ce"].params == {}


@pytest.mark.parametrize(("change", "message"), [
    ({"representation": Slot("core.pixels"), "assignment": Slot("core.kmeans"), "labelers": {},
      "losses": {"ce": LossSlot("core.cross_entropy")}},
     r"loss 'ce' \(core.cross_entropy\) needs output \['logits'\], which core.pixels does not produce"),
    ({"losses": {"ce": LossSlot("core.cross_entropy")}},
     r"needs supervision \['labels'\]: set supervision to one of the stage's labelers \['km'\]"),
    ({"losses": {"ce": LossSlot("core.cross_entropy", supervision="nope")}}, "set supervision"),
    ({"labelers": {"km": LabelerSlot("core.kmeans", view="strong")}},
     "labeler 'km' .core.kmeans. reads view 'strong', which the stage does not define"),
    ({"losses": {"ce": LossSlot("core.cross_entropy", views=["clean", "clean"], supervision="km")}},
     r"reads 1 view\(s\), 2 given"),
    ({"losses": {"ce": LossSlot("core.cross_entropy", views=["weak"], supervision="km")}},
     "reads view 'weak', which the stage does not define"),
    ({"representation": Slot("core.convnet", {"depth": 3})},
     "train.representation: 'core.convnet' has no parameter 'depth'"),
    ({"representation": Slot("core.convnet", {"width": "wide"})},
     "train.representation.params.width: expected int, got 'wide'"),
    ({"representation": Slot("core.convnet", {"batchnorm": 1})}, "params.batchnorm: expected bool"),
    ({"labelers": {"km": LabelerSlot("core.kmeans", {"n_iter": 2.5})}}, "labelers.km.params.n_iter: expected int"),
    ({"representation": RepresentationSlot("core.convnet", init_from="later")},
     "init_from 'later' is not an earlier stage"),
    ({"labelers": {}, "losses": {}}, "trains for 2 epochs but has no enabled loss"),
    ({"views": {"weak": ViewConfig("weak")}}, "needs a 'clean' view"),
    ({"representation": Slot("core.convnt")}, "did you mean 'core.convnet'"),
    ({"assignment": Slot("core.kmeans"), "representation": Slot("core.pixels"), "labelers": {}, "losses": {},
      "epochs": 0, "views": {"clean": ViewConfig(), "tiny": ViewConfig("weak", {"crop": 2})}}, "augmentation weak"),
])
def test_an_incompatible_mix_is_one_clear_error(change, message):
    with pytest.raises(ClustError, match=message) as error:
        resolve_stage(registry_with(), "train", stage(**change), GREY, {})
    assert "\n" not in str(error.value)


def test_init_from_an_earlier_stage_resolves():
    finetune = stage(representation=RepresentationSlot("core.convnet", init_from="pretrain"))
    resolved = resolve_stage(registry_with(), "finetune", finetune, GREY, {"pretrain": stage()})
    assert resolved.representation.init_from == "pretrain"


def test_a_representation_that_rejects_the_channels_is_refused():
    grey_only = rep("grey", accepts=InputSpec(channels=(1,)))
    registry = registry_with(mine=plugin(clust_representations=[grey_only]))
    config = stage(representation=Slot("mine.grey"))
    resolve_stage(registry, "train", config, GREY, {})
    with pytest.raises(ClustError, match=r"mine.grey does not accept 3-channel images \(accepts 1 channels\) "
                                         r"of view 'clean'"):
        resolve_stage(registry, "train", config, (3, 8, 8), {})
    with pytest.raises(ClustError, match="core.convnet does not accept 2x2 images"):
        resolve_stage(registry, "train", stage(), (1, 2, 2), {})


def test_a_labeler_must_produce_what_the_loss_needs():
    soft = PseudoLabelerSpec(name="soft", factory=lambda ctx: (lambda outputs: Supervision()),
                             needs=frozenset({"embedding"}), produces=frozenset({"targets"}))
    registry = registry_with(mine=plugin(clust_pseudo_labelers=[soft]))
    config = stage(labelers={"s": LabelerSlot("mine.soft")},
                   losses={"ce": LossSlot("core.cross_entropy", supervision="s")})
    with pytest.raises(ClustError, match=r"needs \['labels'\], which labeler 's' \(mine.soft\) does not produce"):
        resolve_stage(registry, "train", config, GREY, {})


def test_an_assignment_needing_a_missing_output_is_refused():
    config = stage(representation=Slot("core.pixels"), labelers={}, losses={}, epochs=0)
    with pytest.raises(ClustError, match=r"assignment core.argmax needs output \['probs'\]"):
        resolve_stage(registry_with(), "train", config, GREY, {})


# --- settings: --set overrides, value parsing, validation and TOML ----------------------------------------------


def run_config() -> RunConfig:
    """A RunConfig using most fields: two stages, views with params, an outer/inner loop, an adversary optimiser."""
    train = stage(views={"clean": ViewConfig(), "strong": ViewConfig("scan_strong", {"n_ops": 2})},
                  losses={"ce": LossSlot("core.cross_entropy", {"label_smoothing": 0.1}, weight=0.5,
                                         views=["strong"], supervision="km",
                                         adversary_optimizer=OptimizerConfig(name="rmsprop", lr=5e-5))},
                  optimizer=OptimizerConfig(name="sgd", lr=0.05, momentum=0.9, nesterov=True, schedule="cosine",
                                            grad_clip=5.0),
                  loop=Slot("core.outer_inner", {"repeats": 3}),
                  representation=RepresentationSlot("core.convnet", init_from="warmup"),
                  evaluation=EvaluationConfig(batchnorm="batch"))
    warmup = stage(epochs=1, labelers={"km": LabelerSlot("core.kmeans", every=3)})
    return RunConfig(recipe="demo", plugin="core", stages={"warmup": warmup, "train": train},
                     data=DataConfig(spec="folder:/tmp/x", size=32), k=10, seed=3, device="cpu")


def config_dict() -> dict:
    return to_dict(run_config())


def test_to_dict_leaves_out_none_and_from_dict_restores():
    data = config_dict()
    assert "root" not in data["data"] and "stop" not in data["stages"]["warmup"]
    assert from_dict(data) == run_config()


def test_a_config_of_hook_api_1_loads_its_inner_and_labelled_tables_as_loops():
    data = config_dict()
    del data["stages"]["train"]["loop"]
    data["stages"]["train"]["inner"] = {"repeats": 3, "batch_size": 16, "draws": 1}
    data["stages"]["warmup"]["labelled"] = {"labeler": "km", "batch_size": 8}
    del data["stages"]["warmup"]["loop"]
    config = from_dict(data)
    assert config.stages["train"].loop == Slot("core.outer_inner", {"repeats": 3, "inner_batch": 16, "draws": 1})
    assert config.stages["warmup"].loop == Slot("spice.labelled", {"labeler": "km", "batch_size": 8})


def test_a_stage_keeps_at_most_ten_fields_and_hook_api_1_names_still_work():
    assert len(attrs.fields(StageConfig)) <= 10
    data = config_dict()
    for assignment in ("train.eval_every=3", "train.batchnorm_eval=running", "train.init_from=other",
                       "train.grad_clip=2.5", "train.amp=false", "train.cache=auto"):
        apply_set(data, assignment)
    train = from_dict(data).stages["train"]
    assert (train.evaluation.every, train.evaluation.batchnorm, train.representation.init_from,
            train.optimizer.grad_clip, train.optimizer.amp, train.representation.cache) == \
        (3, "running", "other", 2.5, False, "auto")
    old = config_dict()
    stage_table = old["stages"]["train"]
    stage_table.update(eval_every=4, stop={"metric": "loss", "patience": 3}, cache="x.pt")
    del stage_table["evaluation"]
    moved = from_dict(old).stages["train"]
    assert (moved.evaluation.every, moved.evaluation.stop.patience, moved.representation.cache) == (4, 3, "x.pt")
    assert moved.evaluation.batchnorm == "running" and moved.representation.init_from == "warmup"


def test_a_config_of_hook_api_1_loads_the_inv_schedules_params():
    data = config_dict()
    data["stages"]["train"]["optimizer"].update(schedule="inv", inv_gamma=2e-4, inv_power=0.5)
    del data["stages"]["train"]["optimizer"]["schedule_params"]
    data["stages"]["warmup"]["optimizer"].update(inv_gamma=1e-4, inv_power=0.75)
    data["stages"]["train"]["losses"]["ce"]["adversary_optimizer"].update(inv_gamma=1e-4, inv_power=0.75)
    config = from_dict(data)
    assert config.stages["train"].optimizer.schedule_params == {"gamma": 2e-4, "power": 0.5}
    assert config.stages["warmup"].optimizer.schedule_params == {}
    assert config.stages["train"].losses["ce"].adversary_optimizer.schedule_params == {}


def test_none_params_are_left_out_of_toml_and_come_back_as_their_default(tmp_path):
    config = RunConfig(recipe="r", plugin="p", stages={"s": StageConfig(
        representation=Slot("core.pixels", {"optional": None}), assignment=Slot("core.kmeans"))})
    write_toml(config, tmp_path / "c.toml")
    assert from_dict(read_toml(tmp_path / "c.toml")).stages["s"].representation.params == {}


def test_toml_round_trip(tmp_path):
    original = run_config()
    path = tmp_path / "config.toml"
    write_toml(original, path)
    restored = from_dict(read_toml(path))
    assert restored == original
    assert isinstance(restored.stages["train"].labelers["km"], LabelerSlot)
    assert restored.stages["train"].losses["ce"].adversary_optimizer.name == "rmsprop"


def test_read_toml_errors_are_one_line(tmp_path):
    with pytest.raises(ClustError, match="cannot read config file"):
        read_toml(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("recipe = [\n")
    with pytest.raises(ClustError, match="is not valid TOML"):
        read_toml(tmp_path / "bad.toml")


@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), ("-2", -2), ("0.5", 0.5), ("1e-3", 1e-3), ("true", True), ("false", False),
    ("[1, 2]", [1, 2]), ('["a", "b"]', ["a", "b"]), ('"x y"', "x y"), ("core.kmeans", "core.kmeans"),
    ("adam", "adam"), ("folder:/data/imgs", "folder:/data/imgs"), ("", ""), ("{a = 1}", {"a": 1}),
])
def test_parse_value(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_apply_set_stage_shorthand_and_full_key():
    data = config_dict()
    apply_set(data, "train.epochs=7")
    apply_set(data, "stages.warmup.optimizer.lr=0.25")
    apply_set(data, " train.losses.ce.weight = 2 ")
    config = from_dict(data)
    assert config.stages["train"].epochs == 7 and config.stages["warmup"].optimizer.lr == 0.25
    assert config.stages["train"].losses["ce"].weight == 2.0


def test_apply_set_dataset_shorthand_and_top_level_keys():
    data = config_dict()
    apply_set(data, "dataset=cifar10")
    apply_set(data, "k=20")
    apply_set(data, "data.split=test")
    config = from_dict(data)
    assert config.data.spec == "cifar10" and config.k == 20 and config.data.split == "test"


def test_apply_set_slot_swap_resets_params_and_keeps_the_rest():
    data = config_dict()
    apply_set(data, "train.losses.ce=mine.other_loss")
    apply_set(data, "train.representation=core.pixels")
    ce = data["stages"]["train"]["losses"]["ce"]
    assert ce["component"] == "mine.other_loss" and ce.get("params", {}) == {}
    assert ce["weight"] == 0.5 and ce["views"] == ["strong"] and ce["supervision"] == "km"
    assert data["stages"]["train"]["representation"]["component"] == "core.pixels"
    assert data["stages"]["train"]["representation"].get("params", {}) == {}
    assert from_dict(data).stages["train"].losses["ce"].params == {}


def test_apply_set_adds_a_new_loss_or_labeler():
    data = config_dict()
    apply_set(data, "train.losses.extra=core.cross_entropy")
    apply_set(data, "train.losses.extra.supervision=km")
    apply_set(data, "warmup.labelers.conf=core.confident")
    config = from_dict(data)
    assert config.stages["train"].losses["extra"] == LossSlot("core.cross_entropy", supervision="km")
    assert config.stages["warmup"].labelers["conf"] == LabelerSlot("core.confident")
    resolved = resolve_stage(registry_with(), "train", config.stages["train"], GREY, config.stages)
    assert resolved.losses["extra"].params == {"label_smoothing": 0.0}


def test_apply_set_a_param_of_a_component():
    data = config_dict()
    apply_set(data, "train.representation.params.width=16")
    assert from_dict(data).stages["train"].representation.params == {"width": 16}


@pytest.mark.parametrize(("assignment", "message"), [
    ("nosuch.key=1", r"unknown config key 'nosuch.key' \('nosuch' is not a table\)"),
    ("train.optimizer.lr.x=1", "'lr' is not a table"),
    ("train.optimizer=3", "config key 'train.optimizer' is a table, not a value"),
    ("data=cifar10", "config key 'data' is a table, not a value"),
    ("train.representation=3", "is a table, not a value"),
    ("epochs", "--set expects key=value, got 'epochs'"),
    ("=3", "--set expects key=value"),
])
def test_apply_set_errors(assignment, message):
    with pytest.raises(ClustError, match=message) as error:
        apply_set(config_dict(), assignment)
    assert "\n" not in str(error.value)


def test_an_unknown_leaf_key_fails_at_validation():
    data = config_dict()
    apply_set(data, "train.epochz=3")
    with pytest.raises(ClustError, match=r"unknown config key 'stages.train.epochz' \(known: representation"):
        from_dict(data)


def edit(path: str, value) -> dict:
    """The config dict with ``path`` (dotted; ``-`` deletes) set to ``value``."""
    data = config_dict()
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value == "-":
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(("path", "value", "message"), [
    ("stages.train.epochs", "five", "stages.train.epochs: expected int, got 'five'"),
    ("stages.train.epochs", True, "expected int, got True"),
    ("stages.train.epochs", 2.5, "expected int, got 2.5"),
    ("stages.train.optimizer.lr", "fast", "stages.train.optimizer.lr: expected a number"),
    ("stages.train.optimizer.lr", False, "expected a number, got False"),
    ("stages.train.optimizer.name", "adamw", "expected one of 'sgd', 'adam', 'rmsprop', got 'adamw'"),
    ("stages.train.losses.ce.views", "strong", "losses.ce.views: expected a list"),
    ("stages.train.losses.ce.views", ["strong", 3], r"losses.ce.views\[1\]: expected str, got 3"),
    ("stages.train.labelers", ["km"], "stages.train.labelers: expected a table"),
    ("stages", {"train": 3}, "stages.train: expected a table, got 3"),
    ("k", "ten", "k: expected int"),
    ("seed", None, "seed: expected int, got None"),
    ("colour", "red", r"unknown config key 'colour' \(known: recipe, plugin, stages"),
    ("stages.train.optimizer.learning_rate", 0.1, "unknown config key 'stages.train.optimizer.learning_rate'"),
    ("recipe", "-", "config: missing key 'recipe'"),
    ("stages.train.representation", "-", "stages.train: missing key 'representation'"),
    ("stages.train.losses.ce.component", "-", "stages.train.losses.ce: missing key 'component'"),
    ("stages.train.epochs", -1, "stages.train: epochs must be >= 0, got -1"),
    ("stages.train.optimizer.lr", 0, "stages.train.optimizer: lr must be > 0, got 0.0"),
    ("stages.warmup.labelers.km.every", -1, "labelers.km: every must be >= 0, got -1"),
    ("k", 0, "config: k must be > 0, got 0"),
    ("num_workers", -2, "num_workers must be >= 0"),
])
def test_from_dict_errors_are_one_clear_line(path, value, message):
    with pytest.raises(ClustError, match=message) as error:
        from_dict(edit(path, value))
    assert "\n" not in str(error.value)


def test_from_dict_accepts_ints_for_floats_and_optional_none_by_absence():
    data = edit("stages.train.optimizer.lr", 1)
    del data["k"]
    config = from_dict(data)
    assert config.stages["train"].optimizer.lr == 1.0 and isinstance(config.stages["train"].optimizer.lr, float)
    assert config.k is None


def test_a_resolved_recipe_round_trips_through_toml(tmp_path):
    """What a run writes (its recipe's stages with every param filled in) reloads equal."""
    registry = registry_with()
    data = DataInfo(name="digits", shape=GREY, n=1797, k=10)
    stages = {name: resolve_stage(registry, name, cfg, GREY, {})
              for name, cfg in registry.recipes["kmeans"].stages(data).items()}
    original = RunConfig(recipe="kmeans", plugin="core", stages=stages, k=10)
    write_toml(original, tmp_path / "config.toml")
    assert from_dict(read_toml(tmp_path / "config.toml")) == original
