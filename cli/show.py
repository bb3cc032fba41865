"""``clust show``: a recipe's resolved stages and every setting with its source, without training.

The same resolution and checks as ``clust run`` (config, data, every stage built
once), the same one-line errors and exit codes; nothing is written. Each setting
is marked ``default`` (the component's or core's default: for a component, the
paper's value), ``recipe`` (the recipe's choice for this data) or ``user``
(``--set`` or ``--config``).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import click

from ..accelerate import Accelerator
from ..config import StageConfig
from ..data import ImageSet
from ..engine.trainer import StageTrainer, TrainerHooks
from ..recipe import DataInfo
from ..registry import Registry
from ..resolve import RunRequest, resolve
from ..runner import Runner
from ..settings import to_dict
from . import output
from .run import K_HELP, ClusterCount


@click.command("show")
@click.option("--plugin", "-p", default=None, help="Plugin (its recipe) or recipe name; default kmeans.")
@click.option("--recipe", "-r", default=None, help="A recipe of the plugin, when it has several.")
@click.option("--dataset", "-d", default=None, help="As for clust run (default digits).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a setting, as for clust run.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="A TOML config (e.g. a run's config.toml).")
@click.option("--k", type=ClusterCount(), default=None, help=K_HELP)
@click.option("--seed", type=int, default=None, help="Random seed (default 0).")
@click.pass_obj
def show_command(registry: Registry, plugin: str | None, recipe: str | None, dataset: str | None,
                 sets: tuple[str, ...], config_file: str | None, k: int | str | None, seed: int | None) -> None:
    """Show the resolved stages, components, params (with their sources), views, epochs and steps."""
    request = RunRequest(plugin=plugin, recipe=recipe, dataset=dataset, config_file=config_file, sets=sets, k=k,
                         seed=seed, device="cpu")
    config, images = resolve(registry, request, log=output.note)
    runner = Runner(registry, config, images, Accelerator("cpu"), None)
    runner.prepare()
    spec = registry.recipes[config.recipe]
    raw = spec.stages(DataInfo(images.name, images.shape, images.n, config.k))
    plain, _ = resolve(registry, RunRequest(plugin=config.plugin, recipe=config.recipe, dataset=config.data.spec,
                                            k=config.k, seed=config.seed, device="cpu"), images=images)
    output.release()
    click.echo(f"recipe {config.recipe} (plugin {config.plugin}) on {images.name}: {images.n} images "
               f"{'x'.join(map(str, images.shape))}, k={config.k}, seed {config.seed}")
    click.echo("sources: default = the component's (the paper's) or core's default, recipe = the recipe's choice "
               "for this data, user = --set/--config")
    for name, stage in config.stages.items():
        click.echo("")
        click.echo(f"stage {name}: {_schedule(runner, name, stage, images)}")
        recipe_stage = raw.get(name)
        for key, value, source in settings(stage, plain.stages.get(name), recipe_stage):
            click.echo(f"  {key:<44} {_shown(value):<36} {source}")


def _schedule(runner: Runner, name: str, stage: StageConfig, images: ImageSet) -> str:
    """Epochs, optimiser steps per epoch and the loop, as the trainer will count them."""
    parts = runner.built(name)
    if not stage.epochs:
        return "no training (assignment only)"
    hooks = TrainerHooks.silent()
    steps = StageTrainer(parts, images, runner.acc, hooks).steps_per_epoch
    total = stage.total_steps(steps)
    cut = ", cut at optimizer.max_steps" if total < stage.epochs * steps else ""
    return (f"{stage.epochs} epochs x {steps} steps{cut} = {total} optimiser steps "
            f"(batch {stage.batch_size}, loop {stage.loop.component})")


def settings(stage: StageConfig, plain: StageConfig | None, recipe: StageConfig | None
             ) -> Iterator[tuple[str, Any, str]]:
    """Every setting of ``stage`` as (dotted key, value, source): ``user`` where it differs from the recipe's
    resolved stage ``plain``; ``recipe`` where the recipe's own stage ``recipe`` chose it (a param it wrote, or
    a config field away from its default); else ``default``."""
    final = dict(_flat(to_dict(stage)))
    resolved = dict(_flat(to_dict(plain))) if plain is not None else {}
    chosen = dict(_flat(to_dict(recipe))) if recipe is not None else {}
    defaults = dict(_field_defaults(recipe)) if recipe is not None else {}
    for key, value in final.items():
        if key not in resolved or resolved[key] != value:
            source = "user"
        elif key in chosen and chosen[key] == value and not (key in defaults and defaults[key] == value):
            source = "recipe"
        else:
            source = "default"
        yield key, value, source


def _field_defaults(config: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The default of every config field (not params) under ``config``, by dotted key as :func:`_flat` names it."""
    for field in attrs.fields(type(config)):
        value, path = getattr(config, field.name), f"{prefix}{field.name}"
        if attrs.has(type(value)):
            yield from _field_defaults(value, f"{path}.")
        elif isinstance(value, dict) and value and all(attrs.has(type(item)) for item in value.values()):
            for key, item in value.items():
                yield from _field_defaults(item, f"{path}.{key}.")
        elif field.name != "params":
            default = field.default
            default = default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[misc]
            yield path, to_dict(default) if attrs.has(type(default)) else default


def _flat(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flat(value, f"{path}.")
        else:
            yield path, value


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
