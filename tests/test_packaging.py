"""Packaging: the `all` extra names every plugin folder, and every plugin is installed and working."""
from __future__ import annotations

import tomllib
from pathlib import Path

from clust_core.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]


def _plugin_projects() -> dict[str, dict]:
    return {path.parent.name: tomllib.loads(path.read_text())["project"]
            for path in sorted((ROOT / "plugins").glob("*/pyproject.toml"))}


def test_the_all_extra_lists_every_plugin_folder() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert sorted(extras["all"]) == sorted(project["name"] for project in _plugin_projects().values())


def test_every_plugin_folder_is_installed_under_its_own_name_and_works() -> None:
    registry = load_registry()
    for folder, project in _plugin_projects().items():
        assert project["name"] == f"clust-{folder}"
        assert project["entry-points"]["clust_core.plugins"] == {folder: f"clust_{folder}"}
        assert folder in registry.plugins, f"plugin {folder} is not installed (make install)"
        assert registry.plugins[folder].error is None, registry.plugins[folder].error
