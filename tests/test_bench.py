"""``clust bench``: cells in their own processes, results.csv / table.md / bench.png, failures as rows, resuming."""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from clust_core.bench.cells import RESULT, Cell, count_steps, dataset_label, finished, plan
from clust_core.bench.machine import cpu_model
from clust_core.bench.tables import mean_std, table
from clust_core.cli.main import build_cli
from clust_core.data import load_dataset
from clust_core.errors import ClustError
from clust_core.k_estimate import estimate_k, pixel_features
from clust_core import runs
from clust_core.registry import load_registry

FLAKY = '''"""A test plugin: pixels as the embedding, except that the network refuses to run with seed 1."""
import torch
import clust_core
from clust_core.components import RepresentationSpec
from clust_core.config import Slot, StageConfig
from clust_core.recipe import RecipeSpec

CLUST_HOOK_API = clust_core.HOOK_API_VERSION


class Pixels(torch.nn.Module):
    def __init__(self, ctx):
        super().__init__()
        self.seed = ctx.seed

    def forward(self, images):
        if self.seed == 1:
            raise RuntimeError("flaky refuses seed 1")
        return {"embedding": images.flatten(1)}


@clust_core.hookimpl
def clust_representations():
    return [RepresentationSpec(name="pixels", factory=Pixels, produces=frozenset({"embedding"}))]


@clust_core.hookimpl
def clust_recipes():
    stages = lambda data: {"cluster": StageConfig(representation=Slot("flaky.pixels"),
                                                  assignment=Slot("core.kmeans"), epochs=0, batch_size=256)}
    return [RecipeSpec(name="flaky", stages=stages)]
'''


@pytest.fixture
def flaky_site(tmp_path, monkeypatch) -> Path:
    """A distribution ``clust-flaky`` on the path of this process and of the bench's cell processes."""
    site = tmp_path / "site"
    info = site / "clust_flaky-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clust-flaky\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[clust_core.plugins]\nflaky = flaky_plugin\n")
    (site / "flaky_plugin.py").write_text(FLAKY)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    for key in ("CLUST_DISABLE_PLUGIN_AUTOLOAD", "CLUST_PLUGINS"):
        monkeypatch.delenv(key, raising=False)
    return site


def bench(*args: str):
    return CliRunner().invoke(build_cli(load_registry()), ["bench", *args])


def read_rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_bench_writes_its_files_records_a_failure_and_resumes(flaky_site, tmp_path) -> None:
    out = tmp_path / "bench"
    result = bench("--plugins", "kmeans,flaky", "--datasets", "digits", "--seeds", "2", "--out", str(out),
                   "--set", "kmeans:cluster.assignment.params.n_redo=2")
    assert result.exit_code == 0, result.output
    assert "3 of 4 cells finished" in result.stdout
    rows = read_rows(out)
    assert [(r["recipe"], r["seed"], r["status"]) for r in rows] == [
        ("kmeans", "0", "ok"), ("kmeans", "1", "ok"), ("flaky", "0", "ok"), ("flaky", "1", "failed")]
    failed = rows[3]
    assert "flaky refuses seed 1" in failed["error"] and failed["acc"] == ""
    assert all(r["k"] == "10" and r["steps"] == "0" for r in rows[:3]) and rows[3]["steps"] == ""
    assert all(r["k_source"] == "labels" for r in rows)
    assert "cluster.assignment.params.n_redo=2" in rows[0]["command"]
    assert "n_redo" not in rows[2]["command"]

    accs = [float(r["acc"]) for r in rows[:2]]
    text = (out / "table.md").read_text().replace("**", "")  # the best mean is bold
    assert f"{statistics.mean(accs):.3f} ± {statistics.stdev(accs):.3f}" in text
    assert f"{float(rows[2]['acc']):.3f} (1 of 2 failed)" in text
    assert "flaky refuses seed 1" in text.split("## Failed cells")[1]
    assert f"Machine: {cpu_model()}, " in text and "cores usable, torch " in text and "GPU: " in text
    assert (out / "bench.png").stat().st_size > 5000

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/cell.json")}
    again = bench("--plugins", "kmeans,flaky", "--datasets", "digits", "--seeds", "2", "--out", str(out),
                  "--set", "kmeans:cluster.assignment.params.n_redo=2")
    assert again.exit_code == 0, again.output
    assert again.stderr.count("(finished earlier)") == 4
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/cell.json")} == stamps
    assert read_rows(out) == rows

    retried = bench("--plugins", "flaky", "--datasets", "digits", "--seeds", "2", "--out", str(out),
                    "--retry-failed")
    assert retried.exit_code == 0, retried.output
    assert retried.stderr.count("(finished earlier)") == 1 and "FAILED" in retried.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--plugins", "kmeans,nosuch"), "nosuch"),
    (("--set", "spice:joint.epochs=2", "--plugins", "kmeans"), "'spice' is not one of the benched recipes"),
    (("--plugins", "kmeans", "--set", "cluster.epochs=-1"), "kmeans on digits"),
    (("--plugins", "kmeans", "--k", "1"), "at least 2"),
    (("--plugins", "kmeans", "--k", "ten"), "expected a number of clusters"),
])
def test_bad_input_stops_the_bench_before_any_cell(tmp_path, args, message) -> None:
    result = bench(*args, "--out", str(tmp_path / "bench"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "bench").exists()


def test_mean_and_sample_std_by_hand() -> None:
    assert mean_std([0.5]) == (0.5, None)
    mean, std = mean_std([0.6, 0.8, 1.0])
    assert mean == pytest.approx(0.8) and std == pytest.approx(0.2)  # sqrt((0.04 + 0 + 0.04) / 2)


def test_the_table_marks_the_best_mean_of_each_column_and_counts_failures() -> None:
    rows = [{"recipe": "a", "dataset": "d1", "status": "ok", "acc": 0.6, "k_source": "labels"},
            {"recipe": "a", "dataset": "d1", "status": "ok", "acc": 0.8, "k_source": "labels"},
            {"recipe": "b", "dataset": "d1", "status": "ok", "acc": 0.9, "k_source": "labels"},
            {"recipe": "b", "dataset": "d1", "status": "failed", "acc": None, "k_source": "labels"},
            {"recipe": "a", "dataset": "d2", "status": "ok", "acc": 0.5, "k_source": "labels"},
            {"recipe": "b", "dataset": "d2", "status": "failed", "acc": None, "k_source": "labels"},
            {"recipe": "a", "dataset": "d2", "status": "ok", "acc": 0.3, "k": 5, "k_source": "user"}]
    lines = table(rows, "acc").splitlines()
    assert lines[0] == "| recipe | d1 | d2 |"
    assert lines[2] == "| a | 0.700 ± 0.141 | **0.500** |"
    assert lines[3] == "| b | **0.900** (1 of 2 failed) | failed (1) |"
    assert lines[4] == "| a (k=5) |  | 0.300 |"
    over = [{**rows[0], "budget_fits": False}, {**rows[1], "budget_fits": "True"}, rows[3]]  # csv gives strings
    assert table(over, "acc").splitlines()[2:] == ["| a | **0.700 ± 0.141** (1 of 2 over budget) |",
                                                   "| b | failed (1) |"]
    assert table([{**rows[2], "budget_fits": "False"}, rows[3]], "acc").splitlines()[2] == \
        "| b | **0.900** (1 of 2 failed; 1 of 1 over budget) |"


def test_a_cell_of_an_older_bench_reads_whether_it_fit_its_budget_from_its_run(tmp_path) -> None:
    run_dir = tmp_path / "run" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / runs.SUMMARY).write_text(json.dumps({"acc": 0.5, "budget": {"fits": False}}))
    (tmp_path / RESULT).write_text(json.dumps({"status": "ok", "acc": 0.5, "run_dir": str(run_dir)}))
    assert finished(tmp_path)["budget_fits"] is False
    (tmp_path / RESULT).write_text(json.dumps({"status": "ok", "acc": 0.5, "run_dir": str(tmp_path / "gone")}))
    assert finished(tmp_path)["budget_fits"] is None


def test_cells_are_planned_column_by_column_with_their_own_sets() -> None:
    cells = plan(["kmeans", "jule"], ["digits", "npz:/data/usps.npz"], 2, [None, 5],
                 {"": ("report=false",), "jule": ("jule.epochs=1",)})
    assert len(cells) == 16 and cells[0] == Cell("kmeans", "digits", "digits", 0, None, ("report=false",))
    assert [c.label for c in cells].count("usps") == 8
    assert cells[4].sets == ("report=false", "jule.epochs=1") and cells[4].recipe == "jule"
    assert len({c.name for c in cells}) == 16
    assert dataset_label("npz:a/mnist_test.npz+b/mnist_train.npz") == "mnist_test+mnist_train"
    assert dataset_label("folder:/x/pets/") == "pets"
    budgeted = plan(["kmeans"], ["digits"], 1, [None], {}, budget="2m")[0]
    unbudgeted = plan(["kmeans"], ["digits"], 1, [None], {})[0]
    assert budgeted.command(Path("o"))[-2:] == ["--budget", "2m"] and budgeted.name != unbudgeted.name


def test_steps_are_summed_over_stages_from_the_metrics_log(tmp_path) -> None:
    records = [{"stage": "a", "epoch": 1, "step": 10}, {"stage": "a", "epoch": 2, "step": 20},
               {"stage": "b", "cached": True}, {"stage": "c", "epoch": 1, "step": 7}, {"stage": "c", "final": True}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert count_steps(tmp_path) == 27


def test_a_k_sweep_reports_the_label_free_criterion_beside_the_metrics(tmp_path) -> None:
    out = tmp_path / "bench"
    result = bench("--plugins", "kmeans", "--seeds", "1", "--k", "5,10,auto", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert [(r["k"], r["k_source"]) for r in rows] == [("5", "user"), ("10", "user"), ("11", "estimate")]
    scores = estimate_k(pixel_features(load_dataset("digits").images), 10).scores
    assert [float(r["k_criterion"]) for r in rows[:2]] == pytest.approx([scores[5], scores[10]])
    assert rows[2]["k_criterion"] == ""
    text = (out / "table.md").read_text()
    assert "| kmeans (k=5) |" in text and "| kmeans (k auto) |" in text
    assert f"| digits | 10 | {scores[10]:.4f} |" in text


def test_a_bad_k_list_is_a_clust_error() -> None:
    from clust_core.cli.bench import _ks
    assert _ks("5, 10,5") == [5, 10] and _ks("auto,5") == ["auto", 5]
    with pytest.raises(ClustError):
        _ks("5,x")
