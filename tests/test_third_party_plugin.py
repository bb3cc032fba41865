"""A third-party plugin installed with pip (tests/fixtures/clust-example-plugin) works like a built-in one."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clust_core.cli import build_cli
from clust_core.registry import load_registry

CLUST = Path(sys.executable).parent / "clust"
ACC = re.compile(r"^ACC (\d\.\d{4})\s", re.MULTILINE)
RUN_DIR = re.compile(r"^run directory: (.+)$", re.MULTILINE)

pytestmark = pytest.mark.usefixtures("example_plugin_installed")


@pytest.fixture
def no_plugin_switches(monkeypatch):
    for name in ("CLUST_DISABLE_PLUGIN_AUTOLOAD", "CLUST_PLUGINS", "CLUST_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def executable_results(example_plugin_installed) -> dict[str, subprocess.CompletedProcess]:
    """``clust plugins`` and the plugin's own ``clust example-hello``, run concurrently by the real executable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLUST_")}
    started = {name: subprocess.Popen([str(CLUST), name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env)
               for name in ("plugins", "example-hello")}
    results = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return results


def run(*args: str) -> tuple[float, Path]:
    result = CliRunner().invoke(build_cli(), ["run", *args, "--set", "report=false"])
    assert result.exit_code == 0, (result.output, result.exception)
    acc, run_dir = ACC.search(result.stdout), RUN_DIR.search(result.stdout)
    assert acc and run_dir, result.stdout
    return float(acc.group(1)), Path(run_dir.group(1))


def test_plugins_lists_the_installed_plugin(executable_results):
    result = executable_results["plugins"]
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^  example\s+clust-example-plugin 0\.1\.0$", out, re.MULTILINE), out
    assert re.search(r"^  example\.mlp\s+2-layer MLP", out, re.MULTILINE), out
    assert re.search(r"^  example\s+\(example\)", out, re.MULTILINE), out
    assert "BROKEN" not in out


def test_the_plugin_adds_a_subcommand(executable_results):
    result = executable_results["example-hello"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from clust-example-plugin"


def test_registry_discovers_the_plugin_through_its_entry_point(no_plugin_switches):
    registry = load_registry()
    info = registry.plugins["example"]
    assert (info.distribution, info.version, info.error) == ("clust-example-plugin", "0.1.0", None)
    assert registry.components["representation"]["example.mlp"].produces == {"embedding", "logits", "probs"}
    assert registry.recipes["example"].plugin == "example"


@pytest.mark.parametrize("switch", [("CLUST_DISABLE_PLUGIN_AUTOLOAD", "1"), ("CLUST_PLUGINS", "core")])
def test_environment_switches_keep_the_plugin_out(no_plugin_switches, monkeypatch, switch):
    monkeypatch.setenv(*switch)
    registry = load_registry()
    assert "example" not in registry.plugins and "example" not in registry.recipes
    assert "example.mlp" not in registry.components["representation"]
    assert "core" in registry.plugins and "kmeans" in registry.recipes


def test_the_plugin_recipe_trains_and_clusters_digits(no_plugin_switches, tmp_path):
    acc, run_dir = run("--plugin", "example", "--out", str(tmp_path))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["recipe"] == "example" and summary["versions"]["plugins"]["example"] == "0.1.0"
    assert summary["components"]["train"] == {
        "representation": "example.mlp", "assignment": "core.argmax",
        "labelers": {"labels": "core.kmeans"}, "losses": {"ce": "core.cross_entropy"}}
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if "epoch" in r] == [1, 2, 3]
    assert epochs[-1]["final"] and epochs[0]["loss"] > [r for r in epochs if "epoch" in r][-1]["loss"]
    assert acc >= 0.5, f"example recipe reached ACC {acc} on digits (chance is 0.1)"


def test_a_slot_takes_a_component_of_another_plugin(no_plugin_switches, tmp_path):
    """The untrained MLP of the plugin as the representation of core's k-means recipe."""
    _, run_dir = run("--plugin", "kmeans", "--set", "cluster.representation=example.mlp",
                     "--set", "cluster.assignment=core.kmeans", "--out", str(tmp_path))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["components"]["cluster"]["representation"] == "example.mlp"
    assert (run_dir / "assignments.csv").is_file() and (run_dir / "model.pt").is_file()
