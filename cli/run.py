"""``clust run``: train a recipe on a dataset and write the run directory.

Everything is checked (the config, the data, every stage built once) before
the run directory is created; ``--resume`` also checks the saved config
against its checkpoint and the data against the run's fingerprint, and holds
the run's lock so that two processes never continue one run.
"""
from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from .. import runs
from ..accelerate import Accelerator, accelerator_session, load_checkpoint
from ..artifacts import write_artifacts
from ..config import RunConfig
from ..engine.budget import Budget, fit_budget, parse_budget
from ..data import ImageSet, load_dataset
from ..errors import ClustError, RunInterrupted
from ..registry import Registry
from ..resolve import AUTO, RunRequest, check_config, resolve
from ..runner import Runner
from ..settings import apply_set, from_dict, to_dict
from . import output

_NOT_WITH_RESUME = {"plugin": "--plugin", "recipe": "--recipe", "dataset": "--dataset", "sets": "--set",
                    "config_file": "--config", "k": "--k", "seed": "--seed", "out": "--out", "budget": "--budget"}
"""Options that would change a run: ``--resume`` continues it exactly as saved (only ``--device`` may change)."""
_RESUME_SETS = ("report", "device")
"""``--set`` keys ``--resume`` honours: they change how a run is shown or where it runs, not what it computes."""
K_HELP = ("Number of clusters (default: number of labels; auto: estimated from the pixels by the eigengap "
          "criterion)")


class ClusterCount(click.ParamType):
    """``--k``: an integer, or ``auto`` to estimate the number of clusters (:mod:`clust_core.k_estimate`)."""

    name = "integer|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.lower() == AUTO:
            return AUTO
        try:
            return int(text)
        except ValueError:
            self.fail(f"{value!r} is neither an integer nor 'auto'", param, ctx)


@click.command("run")
@click.option("--plugin", "-p", default=None, help="Plugin (its recipe) or recipe name; default kmeans.")
@click.option("--recipe", "-r", default=None, help="A recipe of the plugin, when it has several.")
@click.option("--dataset", "-d", default=None,
              help="digits (default), npz:PATH[+PATH], folder:PATH, mnist, fashion-mnist, usps, cifar10, "
                   "cifar100-20, stl10.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a setting: STAGE.epochs=5, STAGE.SLOT=plugin.component, "
                   "STAGE.SLOT.params.NAME=value, k=10, seed=1 (repeatable).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="A TOML config (e.g. a run's config.toml).")
@click.option("--k", type=ClusterCount(), default=None, help=K_HELP)
@click.option("--seed", type=int, default=None, help="Random seed (default 0).")
@click.option("--device", default=None, help="auto (default), cpu, cuda, cuda:N (may change on --resume).")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where run directories are created.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run in this directory from its last checkpoint, exactly as configured.")
@click.option("--budget", default=None, metavar="TIME|NSTEPS",
              help="Scale every training stage's epochs (keeping their ratios) so the run fits 5m, 90s, 1h30m "
                   "(calibrated on this machine) or 2000steps; recorded in config.toml and summary.json.")
@click.pass_context
def run_command(ctx: click.Context, plugin: str | None, recipe: str | None, dataset: str | None,
                sets: tuple[str, ...], config_file: str | None, k: int | str | None, seed: int | None,
                device: str | None, out: str, resume: str | None, budget: str | None) -> None:
    """Train a recipe and print ACC/NMI/ARI and the run directory."""
    registry: Registry = ctx.obj
    limit = None if budget is None else parse_budget(budget)
    if resume:
        run_dir, config = runs.open_run_dir(resume)
        state = _checkpoint(run_dir)
        config = _resume_options(ctx, config, run_dir, sets, device)
        images = load_dataset(config.data.spec, split=config.data.split, root=config.data.root,
                              size=config.data.size)
        config = check_config(registry, config, images)
        runs.check_fingerprint(run_dir, images, plugin_versions(registry, config))
        if state is not None:
            runs.check_checkpoint(run_dir, state, config)
    else:
        request = RunRequest(plugin=plugin, recipe=recipe, dataset=dataset, config_file=config_file, sets=sets,
                             k=k, seed=seed, device=device)
        config, images = resolve(registry, request, log=output.note)
        run_dir, state = None, None
    with accelerator_session(config.device) as accelerator:
        runner = Runner(registry, config, images, accelerator, None, log=output.progress)
        runner.prepare()
        if limit is not None and run_dir is None:
            config = _fit_budget(runner, limit)
            runner = Runner(registry, config, images, accelerator, None, log=output.progress)
            runner.prepare()
        if run_dir is None:
            run_dir = accelerator.broadcast(
                runs.new_run_dir(out, config.recipe, images.name) if accelerator.is_main else None)
            fresh = True
        else:
            fresh = False
        with _locked(accelerator, Path(run_dir)):
            _start(accelerator, Path(run_dir), config, images, registry, fresh)
            runner.run_dir = Path(run_dir)  # notes wait for the first progress line: an early failure stays one line
            result = _train(runner, state, Path(run_dir), fresh)
            if accelerator.is_main:
                summary = write_artifacts(Path(run_dir), result, config, registry, images)
                _print_result(summary)


def plugin_versions(registry: Registry, config: RunConfig) -> dict[str, str]:
    """Versions of the plugins whose components or recipe the run uses."""
    used = {config.plugin, registry.recipes[config.recipe].plugin if config.recipe in registry.recipes else ""} | {
        slot.component.split(".", 1)[0] for stage in config.stages.values()
        for slot in (stage.representation, stage.assignment, stage.loop, *stage.labelers.values(),
                     *stage.losses.values())}
    return {p.name: p.version for p in registry.working if p.name in used}


@contextlib.contextmanager
def _locked(accelerator: Accelerator, run_dir: Path) -> Iterator[None]:
    if not accelerator.is_main:
        yield
        return
    with runs.locked(run_dir):
        yield


def _fit_budget(runner: Runner, budget: Budget) -> RunConfig:
    """Calibrate the prepared run's stages and scale their epochs to ``budget`` (says how in a note)."""
    started = time.perf_counter()
    costs = runner.calibrate(timed=budget.seconds is not None)
    config, record = fit_budget(runner.config, costs, budget, time.perf_counter() - started)
    epochs = ", ".join(f"{name} {stage['epochs']} -> {_scaled(stage)}"
                       for name, stage in record["stages"].items() if stage["epochs"])
    unit = "steps" if budget.steps is not None else "s"
    output.note(f"budget {budget.text}: epochs {epochs or 'none to scale'} (estimated {record['estimated']:.0f} "
                f"{unit}; calibration {record['calibration_seconds']:.1f} s)")
    if not record["fits"]:
        output.warning(f"the shortest schedule (one step of every stage, or its periods' epochs) already "
                       f"exceeds the budget {budget.text}; running it")
    return config


def _scaled(stage: dict[str, Any]) -> str:
    """``9``, or ``1 (cut at 120 of 620 steps)`` when the budget buys less than one epoch."""
    cut = stage["scaled_steps"] < stage["scaled_epochs"] * stage["steps_per_epoch"]
    return f"{stage['scaled_epochs']}" + (f" (cut at {stage['scaled_steps']} of {stage['steps_per_epoch']} steps)"
                                          if cut else "")


def _checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The run's last checkpoint, None when it has none yet."""
    checkpoint = run_dir / runs.LAST_CHECKPOINT
    return load_checkpoint(checkpoint) if checkpoint.is_file() else None


def _resume_options(ctx: click.Context, config: RunConfig, run_dir: Path, sets: tuple[str, ...],
                    device: str | None) -> RunConfig:
    """Honour ``--device`` and ``--set`` of settings that do not change results (report, device); refuse
    every other option, which would change the run that ``--resume`` continues."""
    given = [flag for name, flag in _NOT_WITH_RESUME.items()
             if name != "sets" and ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)]
    given += [f"--set {item}" for item in sets if item.partition("=")[0].strip() not in _RESUME_SETS]
    if given:
        raise ClustError(f"{given[0]} cannot be given with --resume, which continues the run as it was "
                         f"configured (only --device and --set {'/'.join(_RESUME_SETS)}=… may change); start a new "
                         f"run with --config {run_dir / runs.CONFIG} to change it")
    data = to_dict(config)
    for item in sets:
        apply_set(data, item)
    if device is not None:
        data["device"] = device
    return from_dict(data)


def _start(accelerator: Accelerator, run_dir: Path, config: RunConfig, images: ImageSet, registry: Registry,
           fresh: bool) -> None:
    """A new run writes its config and fingerprint; a resumed one checks that it can write."""
    if not accelerator.is_main:
        return
    if fresh:
        runs.write_config(run_dir, config)
        runs.write_fingerprint(run_dir, images, plugin_versions(registry, config))
    else:
        runs.check_writable(run_dir)


def _train(runner: Runner, state: dict[str, Any] | None, run_dir: Path, fresh: bool) -> Any:
    """Run the stages; Ctrl-C (or SIGTERM) ends with the line that continues the run, and a new run that
    failed before it saved anything leaves no directory behind."""
    try:
        return runner.run(resume=state)
    except KeyboardInterrupt:
        raise RunInterrupted(f"interrupted; continue with: clust run --resume {run_dir}") from None
    except BaseException:
        if fresh and runner.acc.is_main and not (run_dir / runs.METRICS).exists() \
                and not (run_dir / runs.LAST_CHECKPOINT).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _print_result(summary: dict) -> None:
    if summary.get("acc") is None:
        click.echo(f"n={summary['n']} k={summary['k']} (no labels: no metrics)  {summary['seconds']:.1f} s")
    else:
        click.echo(f"ACC {summary['acc']:.4f}  NMI {summary['nmi']:.4f}  ARI {summary['ari']:.4f}  "
                   f"(n={summary['n']}, k={summary['k']}, {summary['seconds']:.1f} s)")
    click.echo(f"run directory: {summary['run_dir']}")
