"""The ``clust`` command line: in process through click's CliRunner, and through the installed executable."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from clust_core.builtin import assignments, labelers, losses, representations, recipes
from clust_core.cli import build_cli
from clust_core.data import load_dataset

CLUST = Path(sys.executable).parent / "clust"
RESULT = re.compile(r"^ACC (\d\.\d{4})\s+NMI (\d\.\d{4})\s+ARI (-?\d\.\d{4})", re.MULTILINE)
RUN_DIR = re.compile(r"^run directory: (.+)$", re.MULTILINE)
SUMMARY_KEYS = {"acc", "nmi", "nmi_average", "ari", "n", "k", "seconds", "recipe", "components", "versions"}
QUIET = ("--set", "report=false")
"""Every run but the one that checks the report skips it: drawing costs seconds."""


@pytest.fixture(scope="module")
def cli():
    return build_cli()


def invoke(cli, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def clean_env() -> dict[str, str]:
    """The environment without CLUST_* switches that would hide plugins."""
    return {key: value for key, value in os.environ.items() if not key.startswith("CLUST_")}


def run_ok(cli, *args: str) -> tuple[str, Path, Result]:
    """Invoke ``clust run ARGS``, check it succeeded, return its ACC (as printed) and run directory."""
    result = invoke(cli, "run", *args)
    assert result.exit_code == 0, (result.output, result.exception)
    acc = RESULT.search(result.stdout)
    run_dir = RUN_DIR.search(result.stdout)
    assert acc and run_dir, result.stdout
    return acc.group(1), Path(run_dir.group(1)), result


def assert_one_error_line(result: Result | subprocess.CompletedProcess, *mentions: str) -> str:
    """Exit code 2 and stderr exactly one line ``error: ...`` naming ``mentions``, no traceback."""
    code = result.exit_code if isinstance(result, Result) else result.returncode
    stderr = result.stderr
    assert code == 2, (code, stderr, getattr(result, "exception", None))
    assert "Traceback" not in stderr and "Traceback" not in result.stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > len("error: "), stderr
    for mention in mentions:
        assert mention in lines[0], (mention, lines[0])
    return lines[0]


def digits_png(path: Path, index: int) -> Path:
    """Write digit ``index`` (the exact pixels the run saw) as an 8x8 grey PNG."""
    Image.fromarray(load_dataset("digits").images[index, :, :, 0], mode="L").save(path)
    return path


@pytest.fixture(scope="module")
def kmeans_run(cli, tmp_path_factory) -> tuple[str, Path]:
    """One finished run of the ``kmeans`` recipe on digits, without report."""
    acc, run_dir, _ = run_ok(cli, "--plugin", "kmeans", "--out", str(tmp_path_factory.mktemp("runs")), *QUIET)
    return acc, run_dir


# ----------------------------------------------------------------------- listing

def test_plugins_lists_core_its_components_and_the_kmeans_recipe(cli):
    result = invoke(cli, "plugins")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"^  core\s+clust-core \S+$", out, re.MULTILINE), out
    for module in (representations, labelers, losses, assignments):
        for spec in module.SPECS:
            assert re.search(rf"^  core\.{spec.name}\s", out, re.MULTILINE), (spec.name, out)
    for recipe in recipes.SPECS:
        assert re.search(rf"^  {recipe.name}\s+\(core\)", out, re.MULTILINE), out
    assert "BROKEN" not in out


# ------------------------------------------------------------------------- a run

def test_run_prints_metrics_and_writes_the_run_directory(kmeans_run):
    acc, run_dir = kmeans_run
    assert float(acc) >= 0.70
    assert run_dir.is_dir()
    for name in ("config.toml", "metrics.jsonl", "assignments.csv", "summary.json"):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "report").exists()  # report=false

    with open(run_dir / "assignments.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["index", "cluster", "confidence"]
    assert len(rows) == 1797 + 1
    assert [int(row[0]) for row in rows[1:]] == list(range(1797))
    assert {int(row[1]) for row in rows[1:]} <= set(range(10))
    assert all(0.0 <= float(row[2]) <= 1.0 for row in rows[1:])

    summary = json.loads((run_dir / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary), SUMMARY_KEYS - set(summary)
    assert f"{summary['acc']:.4f}" == acc
    assert summary["nmi_average"] == "geometric"
    assert 0 < summary["nmi"] <= 1 and 0 < summary["ari"] <= 1
    assert (summary["n"], summary["k"], summary["k_source"], summary["recipe"]) == (1797, 10, "labels", "kmeans")
    assert summary["components"]["cluster"]["representation"] == "core.pixels"
    assert summary["components"]["cluster"]["assignment"] == "core.kmeans"
    assert summary["versions"]["plugins"]["core"] and summary["versions"]["torch"]
    assert summary["seconds"] >= 0

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records and records[-1]["final"] is True and f"{records[-1]['acc']:.4f}" == acc


def test_run_draws_the_report(cli, tmp_path):
    _, run_dir, _ = run_ok(cli, "--plugin", "kmeans", "--out", str(tmp_path))  # report on by default
    for name in ("confusion.png", "clusters.png", "curves.png", "embedding.png"):
        png = run_dir / "report" / name
        assert png.is_file(), name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        with Image.open(png) as image:
            assert min(image.size) >= 100, (name, image.size)


def test_config_toml_of_a_run_reproduces_it(cli, kmeans_run, tmp_path):
    acc, run_dir = kmeans_run
    again, other_dir, _ = run_ok(cli, "--config", str(run_dir / "config.toml"), "--out", str(tmp_path), *QUIET)
    assert again == acc
    assert other_dir != run_dir
    assert (other_dir / "assignments.csv").read_text() == (run_dir / "assignments.csv").read_text()


def test_eval_recomputes_the_same_metrics(cli, kmeans_run):
    acc, run_dir = kmeans_run
    result = invoke(cli, "eval", str(run_dir))
    assert result.exit_code == 0, result.output
    match = re.search(r"^ACC (\d\.\d{4})\s+NMI \d\.\d{4} \(geometric\)\s+ARI", result.stdout, re.MULTILINE)
    assert match and match.group(1) == acc, result.stdout


def test_predict_assigns_new_images_like_the_run(cli, kmeans_run, tmp_path):
    _, run_dir = kmeans_run
    pngs = [digits_png(tmp_path / "a.png", 0), digits_png(tmp_path / "b.png", 1)]
    output = tmp_path / "predicted.csv"
    result = invoke(cli, "predict", str(run_dir), *map(str, pngs), "--output", str(output))
    assert result.exit_code == 0, (result.output, result.exception)
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["path"] for row in rows] == [str(p) for p in pngs]
    with open(run_dir / "assignments.csv", newline="") as handle:
        trained = list(csv.DictReader(handle))
    for index, row in enumerate(rows):
        # the same pixels as digit `index` of the run: the same cluster (a predict, never a refit)
        assert int(row["cluster"]) == int(trained[index]["cluster"])
        assert abs(float(row["confidence"]) - float(trained[index]["confidence"])) < 1e-4

    to_stdout = invoke(cli, "predict", str(run_dir), str(pngs[0]))
    assert to_stdout.exit_code == 0, to_stdout.output
    assert to_stdout.stdout.splitlines()[0] == "path,cluster,confidence"


# -------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    (root / "garbage.npz").write_bytes(os.urandom(64) + b"definitely not a zip archive" * 8)
    np.savez(root / "five_d.npz", images=np.zeros((4, 2, 8, 8, 1), np.uint8), labels=np.zeros(4, np.int64))
    (root / "a_file").write_text("not a directory")
    (root / "not_a_run").mkdir()
    (root / "not_a_run" / "notes.txt").write_text("no config.toml here")
    return root


# --k 10 keeps the run from logging the number of clusters it infers, so stderr holds only the error.
BAD_RUNS = {
    "unknown plugin": (["--plugin", "nope"], ["'nope'"]),
    "unknown recipe": (["--recipe", "nope"], ["'nope'"]),
    "unknown component": (["--set", "cluster.assignment=core.nope"], ["core.nope"]),
    "incompatible mix": (["--set", "cluster.assignment=core.argmax"], ["core.argmax", "probs", "core.pixels"]),
    "missing dataset": (["--dataset", "npz:/nonexistent.npz"], ["/nonexistent.npz"]),
    "corrupt npz": (["--dataset", "npz:{bad}/garbage.npz"], ["garbage.npz"]),
    "5-D images": (["--dataset", "npz:{bad}/five_d.npz"], ["five_d.npz", "(4, 2, 8, 8, 1)"]),
    "k above n": (["--k", "5000"], ["5000", "1797"]),
    "bad --set key": (["--set", "cluster.nope=1"], ["nope"]),
    "bad value type": (["--set", "cluster.epochs=abc"], ["epochs", "abc"]),
    "negative value": (["--set", "cluster.batch_size=-1"], ["batch_size", "-1"]),
    "unwritable --out": (["--out", "/proc/forbidden"], ["/proc/forbidden"]),
    "--out under a file": (["--out", "{bad}/a_file/runs"], ["a_file"]),
    "--resume of a non-run": (["--resume", "{bad}/not_a_run"], ["not_a_run"]),
}


@pytest.mark.parametrize("case", BAD_RUNS)
def test_bad_run_ends_with_one_error_line(cli, bad_files, tmp_path, case):
    args, mentions = BAD_RUNS[case]
    args = [arg.format(bad=bad_files) for arg in args]
    if "--k" not in args:
        args += ["--k", "10"]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "runs")]
    assert_one_error_line(invoke(cli, "run", *args, *QUIET), *mentions)


def test_the_error_is_the_last_line_after_progress_logs(cli, tmp_path):
    """Without --k the run first logs the k it infers; the error still ends stderr, once."""
    result = invoke(cli, "run", "--set", "cluster.assignment=core.nope", "--out", str(tmp_path), *QUIET)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "core.nope" in lines[-1]
    assert sum(line.startswith("error:") for line in lines) == 1


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_eval_and_predict_refuse_a_non_run_directory(cli, bad_files, tmp_path, command):
    image = digits_png(tmp_path / "a.png", 0)
    args = [str(bad_files / "not_a_run")] + ([str(image)] if command == "predict" else [])
    assert_one_error_line(invoke(cli, command, *args), "not_a_run")


def test_predict_refuses_an_unreadable_image(cli, kmeans_run, tmp_path):
    _, run_dir = kmeans_run
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    good = digits_png(tmp_path / "good.png", 0)
    assert_one_error_line(invoke(cli, "predict", str(run_dir), str(good), str(broken)), "broken.png")
    assert_one_error_line(invoke(cli, "predict", str(run_dir), str(tmp_path / "missing.png")), "missing.png")


@pytest.fixture
def damaged_run(kmeans_run, tmp_path) -> Path:
    """A copy of the finished run whose model.pt and checkpoint are garbage."""
    copy = tmp_path / "damaged"
    shutil.copytree(kmeans_run[1], copy)
    (copy / "model.pt").write_bytes(b"junk, not a torch file\n")
    (copy / "checkpoints" / "last.pt").write_bytes(b"junk, not a torch file\n")
    return copy


def test_resume_refuses_a_corrupt_checkpoint(cli, damaged_run, tmp_path):
    assert_one_error_line(invoke(cli, "run", "--resume", str(damaged_run), "--out", str(tmp_path), *QUIET), "last.pt")


def test_predict_refuses_a_corrupt_model(cli, damaged_run, tmp_path):
    image = digits_png(tmp_path / "a.png", 0)
    assert_one_error_line(invoke(cli, "predict", str(damaged_run), str(image)), "model.pt")


def test_predict_refuses_an_unwritable_output(cli, kmeans_run, tmp_path):
    image = digits_png(tmp_path / "a.png", 0)
    result = invoke(cli, "predict", str(kmeans_run[1]), str(image), "--output", "/proc/forbidden/out.csv")
    assert_one_error_line(result, "/proc/forbidden/out.csv")


def _snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


DIVERGING = ["--set", "cluster.representation=core.convnet", "--set", "cluster.labelers.labels=core.kmeans",
             "--set", "cluster.losses.ce=core.cross_entropy", "--set", "cluster.losses.ce.supervision=labels",
             "--set", "cluster.epochs=1", "--set", "cluster.batch_size=64", "--set", "cluster.optimizer.lr=1e30"]
"""A training run whose loss becomes NaN within its first steps (an absurd learning rate)."""


def test_a_failed_run_loses_nothing_already_written(cli, tmp_path):
    out = tmp_path / "runs"
    _, first, _ = run_ok(cli, "--out", str(out), "--k", "10", *QUIET)
    before = _snapshot(out)
    # fails while resolving, before any directory is made
    assert_one_error_line(invoke(cli, "run", "--out", str(out), "--k", "5000", *QUIET), "5000")
    # fails while training, after its own run directory exists
    assert_one_error_line(invoke(cli, "run", "--out", str(out), "--k", "10", *DIVERGING, *QUIET), "loss term")
    after = _snapshot(out)
    assert {k: v for k, v in after.items() if k in before} == before, "an earlier run's files changed"
    assert first.is_dir() and (first / "summary.json").is_file()


def test_a_diverged_run_names_a_checkpoint_that_exists(cli, tmp_path):
    error = assert_one_error_line(invoke(cli, "run", "--out", str(tmp_path), "--k", "10", *DIVERGING, *QUIET))
    named = error.rsplit("last good checkpoint: ", 1)[-1]
    assert named == "none" or Path(named).is_file(), error


# ------------------------------------------------------- the installed executable

@pytest.fixture(scope="module")
def executable_results() -> dict[str, subprocess.CompletedProcess]:
    """Run the real ``clust`` a few times, concurrently (each start pays for importing torch)."""
    commands = {"help": ["--help"], "plugins": ["plugins"], "bad": ["run", "--plugin", "nope"],
                "show": ["show", "--plugin", "kmeans", "--set", "cluster.assignment.params.n_redo=3"]}
    started = {name: subprocess.Popen([str(CLUST), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=clean_env())
               for name, args in commands.items()}
    results = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return results


def test_executable_help(executable_results):
    result = executable_results["help"]
    assert result.returncode == 0, result.stderr
    assert "Usage: clust" in result.stdout
    for command in ("run", "show", "plugins", "eval", "predict"):
        assert re.search(rf"^  {command}\s", result.stdout, re.MULTILINE), command


def test_executable_plugins(executable_results):
    result = executable_results["plugins"]
    assert result.returncode == 0, result.stderr
    assert re.search(r"^  core\s+clust-core", result.stdout, re.MULTILINE)
    assert "core.kmeans" in result.stdout and re.search(r"^  kmeans\s+\(core\)", result.stdout, re.MULTILINE)


def test_executable_bad_input(executable_results):
    assert_one_error_line(executable_results["bad"], "unknown plugin 'nope'")


# ------------------------------------------------------- clust show

def test_show_lists_each_stage_with_its_steps_and_every_setting_with_its_source(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(cli, "show", "--plugin", "spice", "--set", "cluster.epochs=3", "--set",
                    "cluster.optimizer.lr=0.01")
    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    # digits: 1797 images, one outer batch of all of them, 8 repeats x 14 inner batches of 128
    assert "stage cluster: 3 epochs x 112 steps = 336 optimiser steps (batch 1797, loop core.outer_inner)" in out
    assert "stage pretrain: 60 epochs x 14 steps" in out and "stage joint:" in out
    sources = {line.split()[0]: line.split()[-1] for line in out.split("stage cluster:")[1].split("stage joint:")[0]
               .splitlines() if line.startswith("  ")}
    assert sources["epochs"] == "user" and sources["optimizer.lr"] == "user"
    assert sources["representation.params.heads"] == "default"
    assert sources["representation.init_from"] == "recipe" and sources["loop.params.repeats"] == "recipe"
    assert sources["optimizer.nesterov"] == "default"
    assert list(tmp_path.iterdir()) == [], "show writes nothing"


def test_show_refuses_what_run_refuses_in_one_line(cli):
    assert_one_error_line(invoke(cli, "show", "--plugin", "nope"), "nope")
    assert_one_error_line(invoke(cli, "show", "--plugin", "kmeans", "--set", "cluster.assignment=core.argmax"),
                          "core.argmax")


def test_executable_show(executable_results):
    result = executable_results["show"]
    assert result.returncode == 0, result.stderr
    assert "stage cluster: no training (assignment only)" in result.stdout
    assert re.search(r"^  assignment.params.n_redo\s+3\s+user$", result.stdout, re.MULTILINE), result.stdout
