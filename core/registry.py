"""Plugin discovery and the typed registry the rest of clust reads.

Plugins come from the entry-point group ``clust_core.plugins``; core's own
components are registered first as the plugin ``core``. Environment switches:
``CLUST_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry points,
``CLUST_PLUGINS=a,b`` loads only the named ones, ``CLUST_TRACE_PLUGINS=1``
traces every hook call to stderr. A plugin that fails to import, declares
another hook API or clashes with a loaded one is kept as *broken* with its
error; the others work.
"""
from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from types import ModuleType
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .components import KINDS, ComponentSpec
from .errors import ClustError
from .recipe import RecipeSpec

ENTRY_POINT_GROUP = "clust_core.plugins"
_COMPONENT_HOOKS = {
    "representation": "clust_representations",
    "pseudo_labeler": "clust_pseudo_labelers",
    "loss": "clust_losses",
    "assignment": "clust_assignments",
    "loop": "clust_loops",
}


@attrs.frozen
class PluginInfo:
    """A discovered plugin: where it comes from and, if broken, why."""

    name: str
    distribution: str
    version: str
    error: str | None = None


@attrs.define
class Registry:
    """Components by kind and full name; recipes, augmentations and learning-rate schedules by name."""

    plugins: dict[str, PluginInfo] = attrs.field(factory=dict)
    components: dict[str, dict[str, ComponentSpec]] = attrs.field(factory=lambda: {k: {} for k in KINDS})
    recipes: dict[str, RecipeSpec] = attrs.field(factory=dict)
    augmentations: dict[str, Any] = attrs.field(factory=dict)
    schedules: dict[str, Any] = attrs.field(factory=dict)
    manager: pluggy.PluginManager | None = None

    @property
    def working(self) -> list[PluginInfo]:
        """Plugins that loaded."""
        return [p for p in self.plugins.values() if p.error is None]

    @property
    def broken(self) -> list[PluginInfo]:
        """Plugins that did not load, with their error."""
        return [p for p in self.plugins.values() if p.error is not None]

    def component(self, kind: str, name: str) -> ComponentSpec:
        """The spec of component ``name`` (``plugin.component``) of ``kind``."""
        table = self.components[kind]
        if name not in table:
            raise ClustError(f"unknown {kind.replace('_', '-')} '{name}'{_suggest(name, table)}")
        return table[name]

    def find_component(self, name: str) -> ComponentSpec:
        """The spec of ``name`` whatever its kind."""
        for table in self.components.values():
            if name in table:
                return table[name]
        every = {n for table in self.components.values() for n in table}
        raise ClustError(f"unknown component '{name}'{_suggest(name, every)}")

    def recipe_for(self, plugin: str | None, recipe: str | None = None) -> RecipeSpec:
        """Resolve ``--plugin``/``--recipe``: a plugin's own recipe, or a recipe by name.

        ``--plugin kmeans`` names core's ``kmeans`` recipe directly; with both
        given, the recipe must belong to the plugin.
        """
        if plugin in self.plugins and self.plugins[plugin].error:
            raise ClustError(f"plugin '{plugin}' is broken: {self.plugins[plugin].error}")
        if recipe is not None:
            if recipe not in self.recipes:
                raise ClustError(f"unknown recipe '{recipe}'{_suggest(recipe, self.recipes)}")
            owner = self.recipes[recipe].plugin
            if plugin is not None and plugin not in (owner, recipe):
                raise ClustError(f"recipe '{recipe}' belongs to plugin '{owner}', not '{plugin}'")
            return self.recipes[recipe]
        if plugin is None:
            raise ClustError("name a plugin (--plugin) or a recipe (--recipe)")
        if plugin in self.recipes:
            return self.recipes[plugin]
        own = [r for r in self.recipes.values() if r.plugin == plugin]
        if len(own) == 1:
            return own[0]
        if own:
            names = ", ".join(r.name for r in own)
            raise ClustError(f"plugin '{plugin}' has several recipes ({names}): pass --recipe")
        if plugin in self.plugins:
            raise ClustError(f"plugin '{plugin}' defines no recipe: pass --recipe")
        known = sorted({*self.plugins, *self.recipes})
        raise ClustError(f"unknown plugin '{plugin}'{_suggest(plugin, known)} (installed: {', '.join(known)})")


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def load_registry(extra: Mapping[str, ModuleType] | None = None) -> Registry:
    """Discover plugins and build the registry (core first, then entry points, then ``extra``)."""
    from . import builtin

    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    if os.environ.get("CLUST_TRACE_PLUGINS"):
        manager.trace.root.setwriter(sys.stderr.write)
        manager.enable_tracing()
    registry = Registry(manager=manager)
    core_version = _version("clust-core")
    _add_plugin(registry, "core", builtin, "clust-core", core_version)
    if not os.environ.get("CLUST_DISABLE_PLUGIN_AUTOLOAD"):
        allowed = _allow_list()
        claims: dict[str, list[metadata.EntryPoint]] = {}
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = _normal(entry.dist.name if entry.dist else "unknown")
            if allowed is not None and _normal(entry.name) not in allowed and dist not in allowed:
                continue
            same = claims.setdefault(entry.name, [])
            if all(_normal(e.dist.name if e.dist else "unknown") != dist for e in same):
                same.append(entry)
        for name, entries in claims.items():
            if len(entries) > 1:
                _refuse_duplicate(registry, name, "", "", claimants=entries)
            else:
                _load_entry_point(registry, entries[0])
    for name, module in (extra or {}).items():
        _add_plugin(registry, name, module, "(in process)", "")
    return registry


def _allow_list() -> set[str] | None:
    """``CLUST_PLUGINS``: plugin names or distribution names (``clust-dccs``), compared as pip compares names.

    Naming the distribution is what keeps out another distribution that registers a plugin of the same name.
    """
    raw = os.environ.get("CLUST_PLUGINS")
    return None if raw is None else {_normal(p) for p in raw.split(",") if p.strip()}


def _normal(name: str) -> str:
    """A plugin or distribution name normalised like pip's (case, ``-``, ``_`` and ``.`` alike)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _load_entry_point(registry: Registry, entry: metadata.EntryPoint) -> None:
    dist = entry.dist.name if entry.dist else "unknown"
    version = entry.dist.version if entry.dist else "unknown"
    if entry.name in registry.plugins:
        _refuse_duplicate(registry, entry.name, dist, version)
        return
    try:
        module = entry.load()
    except BaseException as exc:  # noqa: BLE001 - any import failure (even SystemExit) makes the plugin broken
        registry.plugins[entry.name] = PluginInfo(entry.name, dist, version, f"import failed: {exc!r}")
        return
    _add_plugin(registry, entry.name, module, dist, version)


def _refuse_duplicate(registry: Registry, name: str, dist: str, version: str,
                      claimants: list[metadata.EntryPoint] | None = None) -> None:
    """Refuse a second plugin of a loaded name; or, given ``claimants`` (several distributions installing one
    plugin name), report each of them as broken and load none: which one is meant cannot be told."""
    if not claimants:
        registry.plugins[f"{name} ({dist})"] = PluginInfo(
            name, dist, version,
            f"duplicate plugin name '{name}' (already provided by {registry.plugins[name].distribution}); refused")
        return
    found = [(e.dist.name if e.dist else "unknown", e.dist.version if e.dist else "unknown") for e in claimants]
    if name in registry.plugins:  # a name already loaded (core): each claimant is refused as a duplicate
        for dist_name, dist_version in found:
            _refuse_duplicate(registry, name, dist_name, dist_version)
        return
    error = (f"plugin name '{name}' is claimed by {len(found)} distributions "
             f"({', '.join(f'{d} {v}' for d, v in found)}); none is used: uninstall the one you do not want, or "
             f"name the one to use in CLUST_PLUGINS (e.g. CLUST_PLUGINS={found[0][0]})")
    registry.plugins[name] = PluginInfo(name, *found[0], error)
    for dist_name, dist_version in found[1:]:
        registry.plugins[f"{name} ({dist_name})"] = PluginInfo(name, dist_name, dist_version, error)


def _add_plugin(registry: Registry, name: str, module: ModuleType, dist: str, version: str) -> None:
    """Register one plugin module, or record it as broken with the reason."""
    if name in registry.plugins:
        _refuse_duplicate(registry, name, dist, version)
        return
    api = getattr(module, "CLUST_HOOK_API", None)
    if api != hookspecs.HOOK_API_VERSION:
        registry.plugins[name] = PluginInfo(
            name, dist, version, f"declares hook API {api!r}, core supports {hookspecs.HOOK_API_VERSION}")
        return
    manager = registry.manager
    try:
        manager.register(module, name=name)
        manager.check_pending()
        contributions = _collect(manager, module, name)
        _check_clashes(registry, contributions)
    except BaseException as exc:  # noqa: BLE001 - whatever a plugin does wrong (even SystemExit) makes it broken
        if manager.is_registered(module):
            manager.unregister(module)
        known = isinstance(exc, (ClustError, pluggy.PluginValidationError))
        reason = str(exc).splitlines()[0] if known else f"hook failed: {exc!r}"
        registry.plugins[name] = PluginInfo(name, dist, version, reason)
        return
    components, recipes, augmentations, schedules = contributions
    for kind, specs in components.items():
        registry.components[kind].update(specs)
    registry.recipes.update(recipes)
    registry.augmentations.update(augmentations)
    registry.schedules.update(schedules)
    registry.plugins[name] = PluginInfo(name, dist, version)


def call_plugin_hook(manager: pluggy.PluginManager, module: ModuleType, hook: str, **kwargs: Any) -> list[Any]:
    """Call ``hook`` of one plugin only, through pluggy (so ``CLUST_TRACE_PLUGINS`` sees it)."""
    others = [p for p in manager.get_plugins() if p is not module]
    return manager.subset_hook_caller(hook, remove_plugins=others)(**kwargs)


def _collect(manager: pluggy.PluginManager, module: ModuleType, plugin: str):
    """Call one plugin's discovery hooks and name its contributions ``plugin.name``."""
    components: dict[str, dict[str, ComponentSpec]] = {}
    for kind, hook in _COMPONENT_HOOKS.items():
        table: dict[str, ComponentSpec] = {}
        for spec in _items(manager, module, hook):
            if not isinstance(spec, KINDS[kind]):
                raise ClustError(f"{hook} returned {type(spec).__name__}, expected {KINDS[kind].__name__}")
            full = f"{plugin}.{spec.name}"
            if full in table:
                raise ClustError(f"component '{full}' is registered twice")
            table[full] = attrs.evolve(spec, name=full)
        components[kind] = table
    recipes: dict[str, RecipeSpec] = {}
    for spec in _items(manager, module, "clust_recipes"):
        if not isinstance(spec, RecipeSpec):
            raise ClustError(f"clust_recipes returned {type(spec).__name__}, expected RecipeSpec")
        if spec.name in recipes:
            raise ClustError(f"recipe '{spec.name}' is registered twice")
        recipes[spec.name] = attrs.evolve(spec, plugin=plugin)
    augmentations = _named(manager, module, "clust_augmentations")
    schedules = _named(manager, module, "clust_schedules")
    return components, recipes, augmentations, schedules


def _named(manager: pluggy.PluginManager, module: ModuleType, hook: str) -> dict[str, Any]:
    """One plugin's contributions to a table by name (augmentations, schedules)."""
    named: dict[str, Any] = {}
    for table in call_plugin_hook(manager, module, hook):
        if not isinstance(table, Mapping):
            raise ClustError(f"{hook} returned {type(table).__name__}, expected a mapping")
        named.update(table)
    return named


def _items(manager: pluggy.PluginManager, module: ModuleType, hook: str) -> list[Any]:
    items = []
    for result in call_plugin_hook(manager, module, hook):
        if not isinstance(result, Iterable):
            raise ClustError(f"{hook} returned {type(result).__name__}, expected a list")
        items.extend(result)
    return items


def _check_clashes(registry: Registry, contributions) -> None:
    from .augment import BUILTIN_AUGMENTATIONS
    from .engine.schedules import BUILTIN_SCHEDULES

    _, recipes, augmentations, schedules = contributions
    for name in recipes:
        if name in registry.recipes:
            raise ClustError(f"recipe '{name}' already registered by plugin '{registry.recipes[name].plugin}'; refused")
    for name in augmentations:
        if name in registry.augmentations or name in BUILTIN_AUGMENTATIONS:
            raise ClustError(f"augmentation '{name}' already registered; refused")
    for name in schedules:
        if name in registry.schedules or name in BUILTIN_SCHEDULES:
            raise ClustError(f"schedule '{name}' already registered; refused")
