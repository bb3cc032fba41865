"""Fixtures shared by the test suite: paths, benchmark datasets and an installed third-party plugin."""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = REPO_ROOT / "tests" / "fixtures" / "clust-example-plugin"

@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where pyproject.toml of clust-core lies)."""
    return REPO_ROOT

@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The shared benchmark datasets (``../shared/datasets`` beside the repository)."""
    path = REPO_ROOT.parent / "shared" / "datasets"
    if not path.is_dir():
        pytest.skip(f"{path} is not there (the shared benchmark datasets are not checked out)")
    return path

def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)

@pytest.fixture(scope="session")
def example_plugin_installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Install ``tests/fixtures/clust-example-plugin`` (entry point ``example``) for the session.

    It is installed into the running interpreter's environment like any third-party plugin,
    so both ``load_registry()`` in this process and the ``clust`` executable discover it.
    """
    import clust_core

    if not hasattr(clust_core, "HOOK_API_VERSION"):
        pytest.fail(f"`import clust_core` gives {clust_core!r}, not core/__init__.py: the editable install of "
                    "clust-core is stale; run `pip install -e .` in the repository again")
    source = tmp_path_factory.mktemp("plugin") / EXAMPLE_PLUGIN.name  # builds leave egg-info/ beside the source
    shutil.copytree(EXAMPLE_PLUGIN, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    _pip("install", "-q", "--no-deps", "--no-build-isolation", str(source))
    importlib.invalidate_caches()
    try:
        yield EXAMPLE_PLUGIN
    finally:
        _pip("uninstall", "-q", "-y", "clust-example-plugin")
        importlib.invalidate_caches()
        sys.modules.pop("clust_example", None)
