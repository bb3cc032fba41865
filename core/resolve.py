"""From what the user asked (plugin, dataset, config file, ``--set``) to a checked RunConfig."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from .config import RunConfig
from .data import ImageSet, load_dataset
from .engine.stage import resolve_stage
from .errors import ClustError
from .recipe import DataInfo
from .registry import Registry
from .settings import apply_set, from_dict, read_toml, to_dict

_TOP_LEVEL = {f.name for f in attrs.fields(RunConfig)} | {"dataset"}


@attrs.frozen
class RunRequest:
    """A run as asked for on the command line or through the Python API."""

    plugin: str | None = None
    recipe: str | None = None
    dataset: str | None = None
    config_file: str | None = None
    sets: Sequence[str] = ()
    k: int | None = None
    seed: int | None = None
    device: str | None = None


def resolve(registry: Registry, request: RunRequest, images: ImageSet | None = None,
            log: Callable[[str], None] = lambda _: None) -> tuple[RunConfig, ImageSet]:
    """Pick the recipe, load the data, apply the config file and overrides, check every stage.

    Raises:
        ClustError: unknown plugin/recipe/component, bad data or value, incompatible mix.
    """
    data = read_toml(request.config_file) if request.config_file else {}
    plugin = request.plugin or data.get("plugin") or "kmeans"
    recipe = registry.recipe_for(plugin, request.recipe or (data.get("recipe") if plugin == data.get("plugin") else None))
    top = {key: value for key, value in data.items() if key != "stages"}
    top.update(plugin=plugin, recipe=recipe.name, stages={})
    top.setdefault("data", {})
    for key, value in (("k", request.k), ("seed", request.seed), ("device", request.device)):
        if value is not None:
            top[key] = value
    if request.dataset is not None:
        top["data"]["spec"] = request.dataset
    stage_sets = []
    for assignment in request.sets:
        (apply_set(top, assignment) if assignment.split("=", 1)[0].split(".")[0] in _TOP_LEVEL
         else stage_sets.append(assignment))
    config = from_dict(top)
    if images is None:
        images = load_dataset(config.data.spec, split=config.data.split, root=config.data.root, size=config.data.size)
    k = _number_of_clusters(config.k, images, log)
    stages = {name: to_dict(stage) for name, stage in recipe.stages(DataInfo(images.name, images.shape, images.n, k)).items()}
    _merge(stages, data.get("stages", {}))
    top.update(k=k, stages=stages)
    for assignment in stage_sets:
        _apply_stage_set(top, assignment)
    config = from_dict(top)
    checked: dict[str, Any] = {}
    for name, stage in config.stages.items():
        checked[name] = resolve_stage(registry, name, stage, images.shape, checked)
    return attrs.evolve(config, stages=checked), images


def _number_of_clusters(k: int | None, images: ImageSet, log: Callable[[str], None]) -> int:
    if k is None:
        if images.labels is None:
            raise ClustError(f"dataset {images.name} has no labels to count clusters from: pass --k")
        k = int(len(np.unique(images.labels)))
        log(f"k = {k}, the number of distinct labels in {images.name} (the papers' protocol; --k to change)")
    if k > images.n:
        raise ClustError(f"k = {k} clusters is more than the {images.n} images of {images.name}")
    return k


def _apply_stage_set(top: dict[str, Any], assignment: str) -> None:
    first = assignment.split("=", 1)[0].split(".")[0]
    if first not in top["stages"]:
        known = ", ".join([*top["stages"], "data", "k", "seed", "device", "num_workers", "report"])
        raise ClustError(f"--set {assignment}: '{first}' is neither a stage nor a setting ({known})")
    apply_set(top, assignment)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """Deep-merge ``extra`` into ``base`` in place."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
