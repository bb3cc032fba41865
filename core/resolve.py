"""From what the user asked (plugin, dataset, config file, ``--set``) to a checked RunConfig.

Everything that can be checked before training is checked here, so that a
mistake ends before anything is written: names and types, the mix of
components, the seed, the device, batch sizes against the data and an
estimate of the memory the images and a batch of views take.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import tomli_w

from .accelerate import resolve_device
from .config import K_SOURCES, RunConfig, StageConfig
from .data import ImageSet, load_dataset, resize_imageset
from .data.images import available_memory, format_bytes
from .engine.seeding import MAX_SEED
from .engine.stage import resolve_stage
from .errors import ClustError
from .k_estimate import default_k_max, estimate_k, pixel_features
from .recipe import DataInfo
from .registry import Registry
from .settings import apply_set, from_dict, read_toml, to_dict

AUTO = "auto"
"""The value of ``k`` that estimates the number of clusters (:mod:`clust_core.k_estimate`)."""
_TOP_LEVEL = {f.name for f in attrs.fields(RunConfig)} | {"dataset"}
_SLOT_KEYS = ("component", "augmentation")
"""A table with one of these keys names what it configures; a different name replaces the whole table."""


@attrs.frozen
class RunRequest:
    """A run as asked for on the command line or through the Python API."""

    plugin: str | None = None
    recipe: str | None = None
    dataset: str | None = None
    config_file: str | None = None
    sets: Sequence[str] = ()
    k: int | str | None = None
    """Number of clusters; None counts the labels, "auto" estimates it from the pixels."""
    seed: int | None = None
    device: str | None = None


def resolve(registry: Registry, request: RunRequest, images: ImageSet | None = None,
            log: Callable[[str], None] = lambda _: None) -> tuple[RunConfig, ImageSet]:
    """Pick the recipe, load the data, apply the config file and overrides, check every stage.

    Raises:
        ClustError: unknown plugin/recipe/component, bad data or value, incompatible mix.
    """
    data = read_toml(request.config_file) if request.config_file else {}
    for key in ("plugin", "recipe"):
        if not isinstance(data.get(key, ""), str):
            raise ClustError(f"--config {request.config_file}: {key} must be a string, got {data[key]!r}")
    plugin = request.plugin or data.get("plugin") or (None if request.recipe else "kmeans")
    recipe = registry.recipe_for(plugin, request.recipe or (data.get("recipe") if plugin == data.get("plugin") else None))
    plugin = plugin or recipe.plugin
    _same_recipe(request, data, recipe.name)
    top = {key: value for key, value in data.items() if key != "stages"}
    top.update(plugin=plugin, recipe=recipe.name, stages={})
    if not isinstance(top.setdefault("data", {}), dict):
        raise ClustError(f"data: expected a table, got {top['data']!r}")
    for key, value in (("k", request.k), ("seed", request.seed), ("device", request.device)):
        if value is not None and value != AUTO:
            top[key] = value
    if request.dataset is not None:
        top["data"]["spec"] = request.dataset
    stage_sets = []
    for assignment in request.sets:
        (apply_set(top, assignment) if assignment.split("=", 1)[0].split(".")[0] in _TOP_LEVEL
         else stage_sets.append(assignment))
    config = from_dict(top)
    check_settings(config)
    top["data"] = to_dict(absolute_data(config).data)
    if images is None:
        images = load_dataset(config.data.spec, split=config.data.split, root=config.data.root, size=config.data.size)
    k = _number_of_clusters(AUTO if request.k == AUTO else config.k, images, log)
    top["k_source"] = _k_source(request, data, config.k)
    side = recipe.input_size(DataInfo(images.name, images.shape, images.n, k)) \
        if recipe.input_size is not None and config.data.size is None else None
    if side is not None and images.shape[1:] != (side, side):
        log(f"{recipe.name}: images resized from {images.height}x{images.width} to {side}x{side} px, the recipe's "
            f"input for data its paper does not name (data.size=N sets another)")
        images = resize_imageset(images, side)
        top["data"]["size"] = side
    stages = {name: to_dict(stage) for name, stage in recipe.stages(DataInfo(images.name, images.shape, images.n, k)).items()}
    saved = data.get("stages", {})
    _known_stages(saved, stages, request.config_file, recipe.name)
    _merge(stages, saved)
    top.update(k=k, stages=stages)
    for assignment in stage_sets:
        _apply_stage_set(top, assignment)
    return check_config(registry, from_dict(top), images), images


def check_config(registry: Registry, config: RunConfig, images: ImageSet) -> RunConfig:
    """Resolve every stage against the registry (params filled in) and check it against the data.

    Also what ``--resume`` runs on a saved config, so an edited ``config.toml`` fails here in one line.
    """
    check_settings(config)
    checked: dict[str, StageConfig] = {}
    for name, stage in config.stages.items():
        checked[name] = resolve_stage(registry, name, stage, images.shape, checked)
        _check_batches(name, checked[name], images)
    config = attrs.evolve(config, stages=checked)
    _check_memory(config, images)
    try:
        tomli_w.dumps(to_dict(config))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ClustError(f"the resolved config cannot be written as TOML: {exc}") from None
    return config


def check_settings(config: RunConfig) -> None:
    """The seed fits in 64 bits (TOML's integers) and the device exists."""
    if not -MAX_SEED - 1 <= config.seed <= MAX_SEED:
        raise ClustError(f"seed must fit in a signed 64-bit integer (-2**63 … 2**63 - 1), got {config.seed}")
    resolve_device(config.device)


def absolute_data(config: RunConfig) -> RunConfig:
    """The config with the paths of an ``npz:``/``folder:`` spec and the data root made absolute,
    so that the run directory works from any working directory."""
    spec, root = config.data.spec, config.data.root
    kind, colon, rest = spec.strip().partition(":")
    if colon and kind.strip().lower() in ("npz", "folder") and rest.strip():
        text = rest.strip()
        whole = Path(text).expanduser()
        parts = [text] if whole.exists() or kind.strip().lower() == "folder" else text.split("+")
        spec = f"{kind.strip().lower()}:" + "+".join(
            os.path.abspath(os.path.expanduser(part.strip())) if part.strip() else part for part in parts)
    if root is not None:
        root = os.path.abspath(os.path.expanduser(root))
    return attrs.evolve(config, data=attrs.evolve(config.data, spec=spec, root=root))


def _same_recipe(request: RunRequest, data: dict[str, Any], recipe: str) -> None:
    """Refuse a config file written for another recipe than the one asked for (its stages would be mixed in)."""
    saved = data.get("recipe")
    if request.config_file and saved is not None and saved != recipe:
        raise ClustError(f"--config {request.config_file} is a config of recipe '{saved}' (plugin "
                         f"'{data.get('plugin')}'), not '{recipe}': drop --plugin/--recipe to run it, or use a "
                         f"config of '{recipe}'")


def _known_stages(saved: Any, stages: dict[str, Any], source: str | None, recipe: str) -> None:
    if not isinstance(saved, dict):
        raise ClustError(f"stages: expected a table, got {saved!r}")
    unknown = sorted(set(saved) - set(stages))
    if unknown:
        raise ClustError(f"--config {source}: '{unknown[0]}' is not a stage of recipe '{recipe}' "
                         f"(stages: {', '.join(stages)})")


def _number_of_clusters(k: int | str | None, images: ImageSet, log: Callable[[str], None]) -> int:
    if k == AUTO:
        k = _estimated_k(images, log)
    if k is None:
        if images.labels is None:
            raise ClustError(f"dataset {images.name} has no labels to count clusters from: pass --k")
        k = int(len(np.unique(images.labels)))
        log(f"k = {k}, the number of distinct labels in {images.name} (the papers' protocol; --k to change)")
    if k > images.n:
        raise ClustError(f"k = {k} clusters is more than the {images.n} images of {images.name}")
    return k


def _k_source(request: RunRequest, data: dict[str, Any], k: int | None) -> str:
    """``estimate`` for --k auto, ``labels`` when k was counted, else ``user``; a config file's unchanged k keeps
    the source it records (a saved run's config.toml)."""
    if request.k == AUTO:
        return "estimate"
    if k is None:
        return "labels"
    if request.k is None and k == data.get("k") and data.get("k_source") in K_SOURCES:
        return data["k_source"]
    return "user"


def _estimated_k(images: ImageSet, log: Callable[[str], None]) -> int:
    """``--k auto``: the number of clusters the eigengap criterion estimates from the raw pixels."""
    if images.n < 3:
        raise ClustError(f"--k auto needs at least 3 images to estimate k, {images.name} has {images.n}: pass --k")
    estimate = estimate_k(pixel_features(images.images), default_k_max(images.n), "eigengap")
    log(f"{estimate.describe()}, estimated from the pixels of {images.name} (--k auto; --k N to set it)")
    return estimate.k


def _check_batches(name: str, stage: StageConfig, images: ImageSet) -> None:
    """A training stage needs batches of at least two images (BatchNorm, contrastive losses, k-means)."""
    if not stage.epochs:
        return
    if images.n < 2:
        raise ClustError(f"stage '{name}' trains for {stage.epochs} epochs on {images.n} image; training needs "
                         "at least 2 (set STAGE.epochs=0 to only assign)")
    if stage.batch_size < 2:
        raise ClustError(f"stage '{name}': batch_size {stage.batch_size} is too small to train on "
                         "(BatchNorm and the losses need at least 2 images per batch)")
    for param, value in stage.loop.params.items():
        if "batch" in param and isinstance(value, int) and not isinstance(value, bool) and value < 2:
            raise ClustError(f"stage '{name}': loop {stage.loop.component} {param} = {value} is too small "
                             "(at least 2 images per step)")
    if stage.evaluation.batchnorm == "batch" and images.n % stage.batch_size == 1:
        raise ClustError(f"stage '{name}' passes over the data with BatchNorm's batch statistics in batches of "
                         f"{stage.batch_size}, which leaves a last batch of one image (n={images.n}): change "
                         f"{name}.batch_size")


def _check_memory(config: RunConfig, images: ImageSet) -> None:
    """The images plus the largest batch of float views must fit in the memory available now."""
    per_image = int(np.prod(images.shape))
    largest = max((min(s.batch_size, images.n) * per_image * 4 * (len(s.views) + 1)
                   for s in config.stages.values()), default=0)
    needed, available = images.images.nbytes + largest, available_memory()
    if available is not None and needed > available:
        raise ClustError(f"this run needs about {format_bytes(needed)} of memory ({images.n} images of "
                         f"{images.shape} and a batch of views), {format_bytes(available)} is available: use "
                         "smaller images (data.size) or batches")


def _apply_stage_set(top: dict[str, Any], assignment: str) -> None:
    first = assignment.split("=", 1)[0].split(".")[0]
    if first not in top["stages"]:
        known = ", ".join([*top["stages"], "data", "k", "seed", "device", "num_workers", "report"])
        raise ClustError(f"--set {assignment}: '{first}' is neither a stage nor a setting ({known})")
    apply_set(top, assignment)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """Deep-merge ``extra`` into ``base`` in place.

    A table naming another component (or augmentation) than ``base``'s replaces it whole: its params
    belong to that component, not to the one of the recipe (a saved swap reloads as it was saved).
    """
    for key, value in extra.items():
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and not _replaces(old, value):
            _merge(old, value)
        else:
            base[key] = value


def _replaces(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(name in new and new[name] != old.get(name) for name in _SLOT_KEYS)
