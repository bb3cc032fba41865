"""Reliability (issue 13): bad inputs and faults end in one ``error:`` line with exit code 2 and change nothing;
runs are deterministic across computed, cached and resumed stages; saved configs reload to themselves;
``--resume`` checks what it continues; plugin loading survives hostile plugins; the API validates arrays.

The table runs in process through click's CliRunner; a few cases go through the installed ``clust``.
Every run here is tiny (digits subsets, one or two epochs, no report).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

from clust_core import Clusterer, ClustError
from clust_core import runs
from clust_core.accelerate import load_checkpoint, save_checkpoint
from clust_core.cli import build_cli
from clust_core.data import load_dataset
from clust_core.registry import load_registry
from clust_core.resolve import RunRequest, resolve
from clust_core.runner import Runner
from clust_core.settings import to_dict, write_toml

CLUST = Path(sys.executable).parent / "clust"
RUN_DIR = re.compile(r"^run directory: (.+)$", re.MULTILINE)
QUIET = ("--set", "report=false")


@pytest.fixture(scope="module")
def cli():
    return build_cli()


def invoke(cli, *args: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def run_ok(cli, *args: str) -> Path:
    result = invoke(cli, "run", *args, *QUIET)
    assert result.exit_code == 0, (result.output, result.exception)
    return Path(RUN_DIR.search(result.stdout).group(1))


def one_error_line(code: int, stderr: str, stdout: str = "") -> str:
    """Exit code 2, stderr exactly one ``error: …`` line, no traceback anywhere."""
    assert code == 2, (code, stderr)
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > len("error: "), stderr
    return lines[0]


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLUST_")}
    return {**env, **extra}


# ------------------------------------------------------------------------------------------------ the world

@attrs.frozen
class World:
    root: Path
    run: Path
    """A finished kmeans run on ``small.npz`` (300 digits)."""
    unlabelled_run: Path
    changing_run: Path
    """A finished kmeans run on ``changing.npz``, which a case may overwrite."""


def _png(path: Path, size: int = 8) -> Path:
    Image.fromarray((np.arange(size * size) % 256).astype(np.uint8).reshape(size, size), mode="L").save(path)
    return path


@pytest.fixture(scope="module")
def world(cli, tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    digits = load_dataset("digits")
    images, labels = digits.images[..., 0], digits.labels
    np.savez(root / "small.npz", images=images[:300], labels=labels[:300])
    np.savez(root / "changing.npz", images=images[:200], labels=labels[:200])
    np.savez(root / "one.npz", images=images[:1], labels=labels[:1])
    np.savez(root / "unlabelled.npz", images=images[:60])
    np.savez(root / "five_d.npz", images=np.zeros((4, 2, 8, 8, 1), np.uint8))
    np.savez(root / "no_images.npz", x=np.zeros(3))
    np.savez(root / "complex.npz", images=np.zeros((4, 8, 8), np.complex64))
    (root / "garbage.npz").write_bytes(b"\x00\x01 definitely not a zip archive" * 8)
    (root / "a_file").write_text("not a directory")
    (root / "not_a_run").mkdir()
    (root / "empty_folder").mkdir()
    (root / "broken_folder").mkdir()
    (root / "broken_folder" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (root / "mixed_folder").mkdir()
    _png(root / "mixed_folder" / "a.png", 8), _png(root / "mixed_folder" / "b.png", 9)
    (root / "mixed_folder" / "c.png").write_bytes(b"\x89PNG broken")
    _png(root / "image.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (root / "invalid.toml").write_text("this is = = not toml\n")
    (root / "binary.toml").write_bytes(bytes(range(256)))
    (root / "unknown_key.toml").write_text("nope = 1\n")
    (root / "extra_stage.toml").write_text('recipe = "kmeans"\nplugin = "kmeans"\n[stages.other]\nepochs = 1\n')
    (root / "plugin_int.toml").write_text("plugin = 3\n")
    (root / "stage_type.toml").write_text('[stages.cluster]\nepochs = "many"\n')
    jule, _ = resolve(load_registry(), RunRequest(plugin="jule", k=10))
    write_toml(jule, root / "jule.toml")
    out = root / "runs"
    run = run_ok(cli, "--dataset", f"npz:{root / 'small.npz'}", "--out", out)
    unlabelled_run = run_ok(cli, "--dataset", f"npz:{root / 'unlabelled.npz'}", "--k", "3", "--out", out)
    changing_run = run_ok(cli, "--dataset", f"npz:{root / 'changing.npz'}", "--out", out)
    return World(root, run, unlabelled_run, changing_run)


def copy_run(world: World, name: str, edit: Callable[[Path], None] | None = None) -> Path:
    """A copy of the finished run under ``cases/NAME``, changed by ``edit``."""
    target = world.root / "cases" / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(world.run, target)
    if edit is not None:
        edit(target)
    return target


def edit_config(old: str, new: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        text = (run / "config.toml").read_text()
        assert old in text, (old, text)
        (run / "config.toml").write_text(text.replace(old, new, 1))
    return edit


def edit_checkpoint(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        state = load_checkpoint(run / runs.LAST_CHECKPOINT)
        change(state)
        save_checkpoint(state, run / runs.LAST_CHECKPOINT)
    return edit


def _other_component(state: dict) -> None:
    state["meta"]["components"]["cluster"]["assignment"] = "core.argmax"


def _old_plugin(run: Path) -> None:
    path = run / runs.FINGERPRINT
    path.write_text(path.read_text().replace('"core": "', '"core": "0.0.0-was-'))


def _change_data(world: World) -> Path:
    path = world.root / "changing.npz"
    with np.load(path) as archive:
        images, labels = archive["images"].copy(), archive["labels"]
    images[0] = 255 - images[0]
    np.savez(path, images=images, labels=labels)
    return world.changing_run


def _missing_data(world: World) -> Path:
    return copy_run(world, "missing_data", edit_config(str(world.root / "small.npz"), "/nonexistent/gone.npz"))


def _without(name: str) -> Callable[[World], Path]:
    return lambda world: copy_run(world, f"without_{name}", lambda run: (run / name).unlink())


def _junk(name: str) -> Callable[[World], Path]:
    return lambda world: copy_run(world, f"junk_{name}", lambda run: (run / name).write_bytes(b"junk, not torch\n"))


@contextlib.contextmanager
def _locked(run: Path):
    with runs.locked(run):
        yield


@attrs.frozen
class Case:
    args: tuple[str, ...]
    mentions: tuple[str, ...] = ()
    setup: Callable[[World], Path] | None = None
    """Makes the run directory the case works on, ``{case}`` in ``args``."""
    hold_lock: bool = False
    skip: str | None = None


def case(*args: str, mentions: tuple[str, ...] = (), **kwargs) -> Case:
    return Case(tuple(args), tuple(mentions), **kwargs)


OUT = ("--out", "{root}/out")
RUN = ("run", *OUT)
RESUME = ("run", "--resume")
DIVERGING = ("--set", "cluster.representation=core.convnet", "--set", "cluster.labelers.labels=core.kmeans",
             "--set", "cluster.losses.ce=core.cross_entropy", "--set", "cluster.losses.ce.supervision=labels",
             "--set", "cluster.epochs=1", "--set", "cluster.batch_size=64", "--set", "cluster.optimizer.lr=1e30")
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False

CASES: dict[str, Case] = {
    # --- what to run
    "unknown plugin": case(*RUN, "--plugin", "nope", mentions=("'nope'",)),
    "unknown recipe": case(*RUN, "--recipe", "nope", mentions=("'nope'",)),
    "recipe of another plugin": case(*RUN, "--plugin", "kmeans", "--recipe", "jule", mentions=("jule", "kmeans")),
    "no such command": case("rnu", mentions=("rnu",)),
    "no such option": case("run", "--nope", mentions=("--nope",)),
    # --- --set
    "unknown component": case(*RUN, "--set", "cluster.assignment=core.nope", mentions=("core.nope",)),
    "incompatible mix": case(*RUN, "--set", "cluster.assignment=core.argmax", mentions=("core.argmax", "probs")),
    "unknown stage": case(*RUN, "--set", "nope.epochs=1", mentions=("nope",)),
    "unknown key": case(*RUN, "--set", "cluster.nope=1", mentions=("nope",)),
    "set without =": case(*RUN, "--set", "cluster.epochs", mentions=("key=value",)),
    "value for a table": case(*RUN, "--set", "cluster.optimizer=3", mentions=("table",)),
    "bad value type": case(*RUN, "--set", "cluster.epochs=abc", mentions=("epochs", "abc")),
    "negative epochs": case(*RUN, "--set", "cluster.epochs=-1", mentions=("epochs",)),
    "negative batch size": case(*RUN, "--set", "cluster.batch_size=-1", mentions=("batch_size", "-1")),
    "unknown param": case(*RUN, "--set", "cluster.assignment.params.nope=1", mentions=("nope",)),
    "param type": case(*RUN, "--set", "cluster.assignment.params.n_redo=abc", mentions=("n_redo",)),
    "bad choice": case(*RUN, "--set", "cluster.optimizer.name=foo", mentions=("foo",)),
    "unknown augmentation": case(*RUN, "--set", "cluster.views.clean.augmentation=nope", mentions=("nope",)),
    "bool setting": case(*RUN, "--set", "report=maybe", mentions=("report",)),
    "k as text via --set": case(*RUN, "--set", "k=abc", mentions=("abc",)),
    "training without a loss": case(*RUN, "--set", "cluster.representation=core.convnet", "--set",
                                    "cluster.epochs=1", mentions=("no enabled loss",)),
    "factory refuses a param": case(*RUN, "--plugin", "jule", "--set", "jule.loop=core.outer_inner", "--set",
                                    "jule.loop.params.repeats=0", mentions=("repeats",)),
    "batch of one with BatchNorm": case(*RUN, "--plugin", "jule", "--set", "jule.batch_size=1",
                                        mentions=("batch_size",)),
    # --- k, seed, device
    "k zero": case(*RUN, "--k", "0", mentions=("k",)),
    "k negative": case(*RUN, "--k", "-3", mentions=("k",)),
    "k above n": case(*RUN, "--k", "5000", mentions=("5000", "1797")),
    "k not an integer": case(*RUN, "--k", "abc", mentions=("--k", "abc")),
    "seed not an integer": case(*RUN, "--seed", "x", mentions=("--seed",)),
    "seed beyond 64 bits": case(*RUN, "--seed", str(2**70), mentions=("seed",)),
    "seed beyond 64 bits via --set": case(*RUN, "--set", f"seed={2**64}", mentions=("seed",)),
    "unknown device": case(*RUN, "--device", "quantum", mentions=("quantum",)),
    "missing CUDA device": case(*RUN, "--device", "cuda:7", mentions=("cuda:7",)),
    # --- data
    "missing npz": case(*RUN, "--dataset", "npz:/nonexistent.npz", mentions=("/nonexistent.npz",)),
    "corrupt npz": case(*RUN, "--dataset", "npz:{root}/garbage.npz", mentions=("garbage.npz",)),
    "5-D images": case(*RUN, "--dataset", "npz:{root}/five_d.npz", "--k", "2", mentions=("five_d",)),
    "npz without images": case(*RUN, "--dataset", "npz:{root}/no_images.npz", mentions=("images",)),
    "complex images": case(*RUN, "--dataset", "npz:{root}/complex.npz", "--k", "2", mentions=("complex",)),
    "empty npz path": case(*RUN, "--dataset", "npz:", mentions=("path",)),
    "unknown dataset": case(*RUN, "--dataset", "nope", mentions=("nope",)),
    "dataset via --set": case(*RUN, "--set", "dataset=nope", mentions=("nope",)),
    "missing folder": case(*RUN, "--dataset", "folder:/nonexistent", mentions=("/nonexistent",)),
    "empty folder": case(*RUN, "--dataset", "folder:{root}/empty_folder", mentions=("empty_folder",)),
    "only broken images": case(*RUN, "--dataset", "folder:{root}/broken_folder", mentions=("broken_folder",)),
    "mixed sizes (after a skipped image)": case(*RUN, "--dataset", "folder:{root}/mixed_folder", "--k", "2",
                                                mentions=("data.size",)),
    "unlabelled data without --k": case(*RUN, "--dataset", "npz:{root}/unlabelled.npz", mentions=("--k",)),
    "split of an npz": case(*RUN, "--dataset", "npz:{root}/small.npz", "--set", "data.split=test",
                            mentions=("split",)),
    "unknown split": case(*RUN, "--set", "data.split=foo", mentions=("foo",)),
    "size zero": case(*RUN, "--set", "data.size=0", mentions=("size",)),
    "size beyond memory": case(*RUN, "--set", "data.size=100000", mentions=("100000", "memory")),
    "one image, training": case(*RUN, "--plugin", "jule", "--dataset", "npz:{root}/one.npz", "--k", "1",
                                mentions=("1 image",)),
    "diverging loss": case(*RUN, *DIVERGING, mentions=("loss term",)),
    # --- --config
    "missing config": case(*RUN, "--config", "/nonexistent.toml", mentions=("/nonexistent.toml",)),
    "config is a directory": case(*RUN, "--config", "{root}/not_a_run", mentions=("--config",)),
    "invalid TOML": case(*RUN, "--config", "{root}/invalid.toml", mentions=("invalid.toml",)),
    "binary config": case(*RUN, "--config", "{root}/binary.toml", mentions=("binary.toml",)),
    "unknown top-level key": case(*RUN, "--config", "{root}/unknown_key.toml", mentions=("nope",)),
    "config of another plugin": case(*RUN, "--plugin", "kmeans", "--config", "{root}/jule.toml",
                                     mentions=("jule", "kmeans")),
    "config with a foreign stage": case(*RUN, "--config", "{root}/extra_stage.toml", mentions=("other",)),
    "config plugin not a string": case(*RUN, "--config", "{root}/plugin_int.toml", mentions=("plugin",)),
    "config stage value type": case(*RUN, "--config", "{root}/stage_type.toml", mentions=("epochs",)),
    # --- --out
    "--out is a file": case("run", "--out", "{root}/a_file", mentions=("a_file",)),
    "--out under a file": case("run", "--out", "{root}/a_file/runs", mentions=("a_file",)),
    "--out unwritable": case("run", "--out", "/proc/forbidden", mentions=("/proc/forbidden",)),
    "--out on a read-only file system": case("run", "--out", "/sys/clust-runs", mentions=("/sys/clust-runs",),
                                             skip=None if not os.access("/sys", os.W_OK) or ROOT else "no /sys"),
    "--out read-only directory": case("run", "--out", "{root}/read_only/runs", mentions=("read_only",),
                                      setup=lambda w: _read_only(w), skip="root writes anywhere" if ROOT else None),
    # --- --resume
    "resume a non-run": case(*RESUME, "{root}/not_a_run", mentions=("not_a_run",)),
    "resume a missing directory": case(*RESUME, "{root}/nowhere", mentions=("nowhere",)),
    "resume a file": case(*RESUME, "{root}/a_file", mentions=("a_file",)),
    "resume with --k": case(*RESUME, "{case}", "--k", "3", mentions=("--k",), setup=lambda w: w.run),
    "resume with --set": case(*RESUME, "{case}", "--set", "cluster.epochs=2", mentions=("--set",),
                              setup=lambda w: w.run),
    "resume with --plugin": case(*RESUME, "{case}", "--plugin", "jule", mentions=("--plugin",),
                                 setup=lambda w: w.run),
    "resume with --out": case(*RESUME, "{case}", "--out", "{root}/elsewhere", mentions=("--out",),
                              setup=lambda w: w.run),
    "resume with --seed": case(*RESUME, "{case}", "--seed", "3", mentions=("--seed",), setup=lambda w: w.run),
    "resume with --config": case(*RESUME, "{case}", "--config", "{root}/jule.toml", mentions=("--config",),
                                 setup=lambda w: w.run),
    "resume with --dataset": case(*RESUME, "{case}", "--dataset", "digits", mentions=("--dataset",),
                                  setup=lambda w: w.run),
    "resume a corrupt checkpoint": case(*RESUME, "{case}", mentions=("last.pt",),
                                        setup=_junk(str(runs.LAST_CHECKPOINT))),
    "resume an edited param type": case(*RESUME, "{case}", mentions=("n_redo",), setup=lambda w: copy_run(
        w, "param_type", edit_config("n_redo = 10", 'n_redo = "ten"'))),
    "resume an edited component": case(*RESUME, "{case}", mentions=("core.argmax",), setup=lambda w: copy_run(
        w, "component", edit_config('component = "core.kmeans"', 'component = "core.argmax"'))),
    "resume an edited setting": case(*RESUME, "{case}", mentions=("edited",), setup=lambda w: copy_run(
        w, "setting", edit_config("n_redo = 10", "n_redo = 3"))),
    "resume another component's checkpoint": case(*RESUME, "{case}", mentions=("core.argmax",),
                                                  setup=lambda w: copy_run(w, "ckpt",
                                                                           edit_checkpoint(_other_component))),
    "resume after a plugin changed": case(*RESUME, "{case}", mentions=("plugin 'core'",),
                                          setup=lambda w: copy_run(w, "plugin", _old_plugin)),
    "resume on changed data": case(*RESUME, "{case}", mentions=("changed",), setup=_change_data),
    "resume with its data gone": case(*RESUME, "{case}", mentions=("gone.npz",), setup=_missing_data),
    "resume a run in use": case(*RESUME, "{case}", mentions=("in use",), setup=lambda w: copy_run(w, "locked"),
                                hold_lock=True),
    # --- eval
    "eval without a run": case("eval", mentions=("RUN",)),
    "eval a non-run": case("eval", "{root}/not_a_run", mentions=("not_a_run",)),
    "eval bad average": case("eval", "{case}", "--nmi-average", "mean", mentions=("mean",), setup=lambda w: w.run),
    "eval without assignments": case("eval", "{case}", mentions=("assignments.csv",),
                                     setup=_without(runs.ASSIGNMENTS)),
    "eval unlabelled data": case("eval", "{case}", mentions=("no labels",), setup=lambda w: w.unlabelled_run),
    "eval with its data gone": case("eval", "{case}", mentions=("gone.npz",), setup=_missing_data),
    # --- predict
    "predict without images": case("predict", "{case}", mentions=("PATHS",), setup=lambda w: w.run),
    "predict a non-run": case("predict", "{root}/not_a_run", "{root}/image.png", mentions=("not_a_run",)),
    "predict a broken image": case("predict", "{case}", "{root}/image.png", "{root}/broken.png",
                                   mentions=("broken.png",), setup=lambda w: w.run),
    "predict a missing image": case("predict", "{case}", "{root}/missing.png", mentions=("missing.png",),
                                    setup=lambda w: w.run),
    "predict into an unwritable file": case("predict", "{case}", "{root}/image.png", "-o", "/proc/forbidden/x.csv",
                                            mentions=("/proc/forbidden",), setup=lambda w: w.run),
    "predict with a corrupt model": case("predict", "{case}", "{root}/image.png", mentions=("model.pt",),
                                         setup=_junk(runs.MODEL)),
    "predict an unfinished run": case("predict", "{case}", "{root}/image.png", mentions=("model.pt",),
                                      setup=_without(runs.MODEL)),
    "predict on an unknown device": case("predict", "{case}", "{root}/image.png", "--device", "quantum",
                                         mentions=("quantum",), setup=lambda w: w.run),
}


def _read_only(world: World) -> Path:
    folder = world.root / "read_only"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    return folder


def test_the_table_is_large_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_error_line_and_changes_nothing(cli, world, name):
    spec = CASES[name]
    if spec.skip:
        pytest.skip(spec.skip)
    target = spec.setup(world) if spec.setup else None
    args = [arg.format(root=world.root, case=target) for arg in spec.args]
    if args[:1] == ["run"] and "--resume" not in args:
        args = ["run", *QUIET, *args[1:]]  # first, so that a case's own --set report=… comes later
    before = snapshot(world.root)
    with _locked(target) if spec.hold_lock else contextlib.nullcontext():
        result = invoke(cli, *args)
    line = one_error_line(result.exit_code, result.stderr, result.stdout)
    for mention in spec.mentions:
        assert mention in line, (mention, line)
    assert snapshot(world.root) == before, "a failed command changed files already written"


# -------------------------------------------------------------------------------- the installed executable

def test_the_executable_keeps_the_discipline(world, tmp_path):
    """Through the real ``clust``: a usage error, and an unexpected exception (one line naming it).
    The processes run concurrently: each start pays for importing torch."""
    boom = tmp_path / "boom"
    boom.mkdir()
    (boom / "sitecustomize.py").write_text(textwrap.dedent("""
        import clust_core.cli.predict as predict
        def _boom(*args, **kwargs):
            raise RuntimeError("an internal bug\\nover two lines")
        predict.evaluate = _boom
    """))
    commands = {
        "usage": (["run", "--k", "abc", "--out", str(tmp_path)], {}),
        "bug": (["eval", str(world.run)], {"PYTHONPATH": str(boom)}),
    }
    started = {name: subprocess.Popen([str(CLUST), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=clean_env(**env)) for name, (args, env) in commands.items()}
    results = {name: (process, *process.communicate(timeout=300)) for name, process in started.items()}
    for name, (process, stdout, stderr) in results.items():
        line = one_error_line(process.returncode, stderr, stdout)
        if name == "usage":
            assert "--k" in line and "abc" in line, line
        else:
            assert "RuntimeError: an internal bug over two lines" in line and "CLUST_DEBUG=1" in line, line
    assert not list(tmp_path.glob("kmeans-*")), "a refused run left a directory"


def test_clust_debug_shows_the_traceback_instead(cli, world, monkeypatch):
    import clust_core.cli.predict as predict

    def boom(*args, **kwargs):
        raise RuntimeError("an internal bug")
    monkeypatch.setattr(predict, "evaluate", boom)
    assert "CLUST_DEBUG=1" in one_error_line(*_code_err_out(invoke(cli, "eval", world.run)))
    monkeypatch.setenv("CLUST_DEBUG", "1")
    result = invoke(cli, "eval", world.run)
    assert isinstance(result.exception, RuntimeError) and "error:" not in result.stderr


def _code_err_out(result: Result) -> tuple[int, str, str]:
    return result.exit_code, result.stderr, result.stdout


# ------------------------------------------------------------------------------ notes, warnings, interrupts

def test_notes_and_warnings_are_single_lines_after_validation(cli, world, tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(world.root / "mixed_folder", folder)
    (folder / "b.png").unlink()
    shutil.copy(folder / "a.png", folder / "d.png")
    ok = invoke(cli, "run", "--dataset", f"folder:{folder}", "--k", "1", "--out", tmp_path / "out", *QUIET)
    assert ok.exit_code == 0, ok.output
    lines = ok.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("warning: ")] == [
        line for line in lines if "c.png" in line], lines
    assert all(line.startswith(("warning: ", "note: ", "[")) for line in lines), lines
    noted = invoke(cli, "run", "--dataset", f"npz:{world.root / 'small.npz'}", "--out", tmp_path / "out", *QUIET)
    assert noted.stderr.startswith("note: k = 10"), noted.stderr


def _interrupt_after(stage: str, epoch: int):
    """A ``Runner._save_checkpoint`` that raises KeyboardInterrupt right after saving ``stage``'s ``epoch``."""
    original = Runner._save_checkpoint

    def save(self, state):
        original(self, state)
        current = state.get("current")
        if current and current["stage"] == stage and current["trainer"]["epoch"] == epoch:
            raise KeyboardInterrupt
    return save


def test_ctrl_c_names_the_resume_command_and_no_temporary_file_stays(cli, world, tmp_path, monkeypatch):
    args = ("run", "--plugin", "jule", "--dataset", f"npz:{world.root / 'small.npz'}", "--set", "jule.epochs=2",
            "--k", "10", "--out", tmp_path, *QUIET)
    monkeypatch.setattr(Runner, "_save_checkpoint", _interrupt_after("jule", 1))
    stopped = invoke(cli, *args)
    assert stopped.exit_code == 130, stopped.output
    line = stopped.stderr.strip().splitlines()[-1]
    run_dir = Path(re.search(r"clust run --resume (\S+)$", line).group(1))
    assert line.startswith("error: interrupted") and (run_dir / runs.LAST_CHECKPOINT).is_file()
    monkeypatch.undo()
    stale = run_dir / "checkpoints" / "last.pt.abc123.tmp"
    stale.write_bytes(b"x" * 1000)  # what a kill -9 during a write leaves
    resumed = invoke(cli, "run", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.output
    assert not stale.exists() and not list(run_dir.rglob("*.tmp"))


def test_an_interrupted_checkpoint_write_removes_its_temporary_file(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"x": 1}, tmp_path / "last.pt")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- determinism

SPICE_SELF = ("--plugin", "spice", "--recipe", "spice-self", "--set", "pretrain.epochs=1", "--set",
              "cluster.epochs=2", "--set", "cluster.batch_size=150", "--set", "cluster.loop.params.repeats=2",
              "--k", "10")


def test_a_stage_computes_the_same_whether_computed_cached_or_resumed(cli, world, tmp_path, monkeypatch):
    monkeypatch.setenv("CLUST_CACHE_DIR", str(tmp_path / "cache"))
    args = (*SPICE_SELF, "--dataset", f"npz:{world.root / 'small.npz'}", "--out", tmp_path / "runs")
    computed = run_ok(cli, *args)
    assert len(list((tmp_path / "cache").glob("pretrain-*.pt"))) == 1
    cached = run_ok(cli, *args)
    assert '"cached"' in (cached / runs.METRICS).read_text()
    monkeypatch.setattr(Runner, "_save_checkpoint", _interrupt_after("cluster", 1))
    stopped = invoke(cli, "run", *args, *QUIET)
    assert stopped.exit_code == 130, stopped.output
    monkeypatch.undo()
    monkeypatch.setenv("CLUST_CACHE_DIR", str(tmp_path / "cache"))
    run_dir = Path(re.search(r"--resume (\S+)$", stopped.stderr.strip()).group(1))
    resumed = invoke(cli, "run", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.output
    expected = (computed / runs.ASSIGNMENTS).read_text()
    assert (cached / runs.ASSIGNMENTS).read_text() == expected
    assert (run_dir / runs.ASSIGNMENTS).read_text() == expected


# ---------------------------------------------------------------------------------- config fixed point

SWAPS = [("kmeans", ()), ("dccm", ()), ("dccs", ()), ("jule", ()), ("spice", ()), ("spice-self", ()),
         ("jule", ("jule.assignment=core.kmeans",)),
         ("kmeans", ("cluster.assignment.params.n_redo=3",)),
         ("spice", ("cluster.views.strong.augmentation=weak", "joint.loop=core.minibatch")),
         ("dccm", ("train.optimizer.name=sgd",))]


@pytest.mark.parametrize(("recipe", "sets"), SWAPS)
def test_resolve_save_load_resolve_is_a_fixed_point(recipe, sets, tmp_path):
    registry = load_registry()
    first, _ = resolve(registry, RunRequest(recipe=recipe, sets=sets, k=10))
    write_toml(first, tmp_path / "config.toml")
    again, _ = resolve(registry, RunRequest(config_file=str(tmp_path / "config.toml")))
    assert to_dict(again) == to_dict(first)


def test_dataset_paths_are_absolute_and_work_from_any_directory(cli, world, tmp_path, monkeypatch):
    shutil.copy(world.root / "small.npz", tmp_path / "small.npz")
    monkeypatch.chdir(tmp_path)
    run_dir = run_ok(cli, "--dataset", "npz:small.npz", "--out", "runs")
    assert run_dir.is_absolute()
    assert f'spec = "npz:{tmp_path / "small.npz"}"' in (run_dir / runs.CONFIG).read_text()
    monkeypatch.chdir(world.root)
    relative = os.path.relpath(run_dir)
    assert invoke(cli, "eval", relative).exit_code == 0
    assert invoke(cli, "run", "--resume", relative).exit_code == 0
    predicted = invoke(cli, "predict", relative, world.root / "image.png")
    assert predicted.exit_code == 0 and predicted.stdout.startswith("path,cluster,confidence")


# ------------------------------------------------------------------------------------------------ the lock

def test_the_lock_refuses_a_second_process_and_is_released(world):
    run = copy_run(world, "lock")
    with runs.locked(run):
        with pytest.raises(ClustError, match="in use"):
            with runs.locked(run):
                pass
    holder = subprocess.Popen(  # another process holding the run's lock (plain flock: no torch to import)
        [sys.executable, "-c", "import fcntl, sys\n"
         f"f = open({str(run / runs.LOCK)!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
         "f.seek(0); f.truncate(); f.write('process 1234 on elsewhere'); f.flush()\n"
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ClustError, match="in use by process 1234 on elsewhere"):
            with runs.locked(run):
                pass
    finally:
        holder.communicate("", timeout=60)
    with runs.locked(run):  # released when its holder ended
        pass


# --------------------------------------------------------------------------------------- plugins

def _distribution(site: Path, dist: str, entries: dict[str, str], modules: dict[str, str]) -> None:
    """Install a fake distribution ``dist`` (dist-info with entry points) and its modules into ``site``."""
    info = site / f"{dist.replace('-', '_')}-6.6.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 6.6\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[clust_core.plugins]\n{lines}")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


PLUGIN = ("import clust_core\nfrom clust_core.builtin.recipes import kmeans_stages\n"
          "from clust_core.recipe import RecipeSpec\nCLUST_HOOK_API = clust_core.HOOK_API_VERSION\n"
          "@clust_core.hookimpl\ndef clust_recipes():\n    return [RecipeSpec(name='{recipe}', stages=kmeans_stages)]\n")


@pytest.fixture
def hostile_site(tmp_path, monkeypatch) -> Path:
    site = tmp_path / "site"
    _distribution(site, "clust-impostor", {"dccs": "impostor_dccs"}, {"impostor_dccs": PLUGIN.format(recipe="fake")})
    _distribution(site, "clust-exiter", {"exiter": "exiter_plugin", "interrupter": "interrupter_plugin"},
                  {"exiter_plugin": "raise SystemExit(3)\n", "interrupter_plugin": "raise KeyboardInterrupt\n"})
    monkeypatch.syspath_prepend(str(site))
    for key in ("CLUST_DISABLE_PLUGIN_AUTOLOAD", "CLUST_PLUGINS"):
        monkeypatch.delenv(key, raising=False)
    return site


def test_a_plugin_raising_systemexit_or_keyboardinterrupt_at_import_is_only_broken(hostile_site):
    registry = load_registry()
    assert "SystemExit" in registry.plugins["exiter"].error
    assert "KeyboardInterrupt" in registry.plugins["interrupter"].error
    assert registry.plugins["core"].error is None and registry.plugins["jule"].error is None
    result = invoke(build_cli(registry), "plugins")
    assert result.exit_code == 0 and "BROKEN" in result.stdout


def test_two_distributions_claiming_a_name_are_both_reported_and_neither_used(hostile_site):
    registry = load_registry()
    claims = [info for info in registry.plugins.values() if info.name == "dccs"]
    assert {info.distribution for info in claims} == {"clust-dccs", "clust-impostor"}
    assert all(info.error and "claimed by 2 distributions" in info.error for info in claims)
    assert "fake" not in registry.recipes and "dccs" not in registry.recipes
    with pytest.raises(ClustError, match="broken"):
        registry.recipe_for("dccs")


@pytest.mark.parametrize(("allow", "recipes", "absent"), [
    ("clust-dccs", {"dccs"}, {"fake", "jule"}),
    ("clust_impostor", {"fake"}, {"dccs"}),
    ("clust-dccs, jule", {"dccs", "jule"}, {"fake"}),
])
def test_the_allow_list_names_distributions(hostile_site, monkeypatch, allow, recipes, absent):
    monkeypatch.setenv("CLUST_PLUGINS", allow)
    registry = load_registry()
    assert recipes <= set(registry.recipes) and not absent & set(registry.recipes)
    assert all(info.error is None for info in registry.plugins.values()), registry.broken


def test_an_allow_list_by_plugin_name_still_sees_both_claims(hostile_site, monkeypatch):
    monkeypatch.setenv("CLUST_PLUGINS", "dccs")
    registry = load_registry()
    assert {info.distribution for info in registry.broken} == {"clust-dccs", "clust-impostor"}


# --------------------------------------------------------------------------------------------- the API

@pytest.mark.parametrize(("X", "y", "message"), [
    (np.full((6, 8, 8), np.nan), None, "NaN"),
    (np.full((6, 8, 8), np.inf), None, "infinite"),
    (np.zeros((6, 8, 8), np.complex128), None, "complex"),
    (np.full((6, 8, 8), "a"), None, "numeric"),
    (np.array([None] * 6), None, "numeric"),
    (None, None, "None"),
    ([[1, 2], [3]], None, "numeric"),
    (np.zeros((0, 8, 8)), None, "shape"),
    (np.zeros((6, 8)), None, "shape"),
    (np.zeros((6, 8, 8, 2)), None, "shape"),
    (np.full((6, 8, 8), -1.0), None, "[0, 1]"),
    (np.zeros((6, 8, 8)), [0, 1], "one per image"),
    (np.zeros((6, 8, 8)), [0.5] * 6, "integers"),
    (np.zeros((6, 8, 8)), ["a"] * 6, "numeric"),
])
def test_the_api_refuses_what_is_not_images_in_one_error(X, y, message):
    with pytest.raises(ClustError, match=re.escape(message)) as caught:
        Clusterer(k=2, report=False).fit(X, y)
    assert "\n" not in str(caught.value)


def test_the_api_fits_valid_float_and_tensor_images_alike():
    images = load_dataset("digits").images[:60, :, :, 0]
    as_uint8 = Clusterer(k=3, report=False).fit_predict(images)
    as_float = Clusterer(k=3, report=False).fit_predict(torch.from_numpy(images / 255.0))
    assert (as_uint8 == as_float).all()


def test_an_api_run_directory_is_written_only_after_validation(tmp_path):
    with pytest.raises(ClustError, match="repeats"):
        Clusterer("jule", k=10, out=tmp_path, report=False, jule__loop="core.outer_inner",
                  jule__loop__params__repeats=0).fit("digits")
    assert list(tmp_path.iterdir()) == []
