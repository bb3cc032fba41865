"""``clust run``: train a recipe on a dataset and write the run directory."""
from __future__ import annotations

from pathlib import Path

import click

from .. import runs
from ..accelerate import accelerator_session, load_checkpoint
from ..artifacts import write_artifacts
from ..data import load_dataset
from ..registry import Registry
from ..resolve import RunRequest, resolve
from ..runner import Runner


def _log(message: str) -> None:
    click.echo(message, err=True)


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
@click.option("--k", type=int, default=None, help="Number of clusters (default: number of labels).")
@click.option("--seed", type=int, default=None, help="Random seed (default 0).")
@click.option("--device", default=None, help="auto (default), cpu, cuda, cuda:N.")
@click.option("--out", default="runs", show_default=True, type=click.Path(file_okay=False),
              help="Where run directories are created.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run in this directory from its last checkpoint.")
@click.pass_obj
def run_command(registry: Registry, plugin, recipe, dataset, sets, config_file, k, seed, device, out,
                resume) -> None:
    """Train a recipe and print ACC/NMI/ARI and the run directory."""
    state = None
    if resume:
        run_dir, config = runs.open_run_dir(resume)
        images = load_dataset(config.data.spec, split=config.data.split, root=config.data.root,
                              size=config.data.size)
        checkpoint = run_dir / runs.LAST_CHECKPOINT
    else:
        request = RunRequest(plugin=plugin, recipe=recipe, dataset=dataset, config_file=config_file, sets=sets,
                             k=k, seed=seed, device=device)
        notes: list[str] = []
        config, images = resolve(registry, request, log=notes.append)
        for note in notes:  # only once resolving succeeded: a mistake stays a single line
            _log(note)
    with accelerator_session(config.device) as accelerator:
        if resume:
            state = load_checkpoint(checkpoint) if checkpoint.is_file() else None
        else:
            run_dir = accelerator.broadcast(
                runs.new_run_dir(out, config.recipe, images.name) if accelerator.is_main else None)
            if accelerator.is_main:
                runs.write_config(run_dir, config)
        runner = Runner(registry, config, images, accelerator, Path(run_dir), log=_log)
        result = runner.run(resume=state)
        if accelerator.is_main:
            summary = write_artifacts(Path(run_dir), result, config, registry, images)
            _print_result(summary)


def _print_result(summary: dict) -> None:
    if summary.get("acc") is None:
        click.echo(f"n={summary['n']} k={summary['k']} (no labels: no metrics)  {summary['seconds']:.1f} s")
    else:
        click.echo(f"ACC {summary['acc']:.4f}  NMI {summary['nmi']:.4f}  ARI {summary['ari']:.4f}  "
                   f"(n={summary['n']}, k={summary['k']}, {summary['seconds']:.1f} s)")
    click.echo(f"run directory: {summary['run_dir']}")

