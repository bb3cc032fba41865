"""``clust bench``: every recipe × dataset × K × seed, each in its own process, into one table and plot.

Every cell is checked as ``clust run`` would check it before the first one starts (a bad name or
``--set`` is one ``error:`` line). Cells run one after the other, skip those a previous bench
finished (so a bench resumes where it stopped), and a cell that fails becomes a row with its error.
After each cell the bench rewrites ``results.csv``, ``table.md`` and ``bench.png`` in ``--out``.
"""
from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

import click
from tqdm import tqdm

from ..bench.cells import Cell, finished, plan, run_cell
from ..bench.machine import machine_line
from ..bench.plot import plot_bench
from ..bench.tables import table, write_csv, write_markdown
from ..data import ImageSet, load_dataset
from ..engine.budget import parse_budget
from ..errors import ClustError
from ..k_estimate import estimate_k, pixel_features
from ..registry import Registry
from ..resolve import AUTO, RunRequest, resolve
from . import output


def _names(values: Iterable[str]) -> list[str]:
    """``a,b`` and repeated options alike, in order, without repeats."""
    return list(dict.fromkeys(part.strip() for value in values for part in value.split(",") if part.strip()))


def _ks(value: str | None) -> list[int | str | None]:
    """``--k``: none (the number of labels), ``auto``, a K or a list of them (``auto`` may be one)."""
    if value is None:
        return [None]
    ks: list[int | str | None] = []
    for part in _names([value]):
        if part.lower() == AUTO:
            ks.append(AUTO)
            continue
        try:
            ks.append(int(part))
        except ValueError:
            raise ClustError(f"--k {value!r}: expected a number of clusters, auto, or a list of them (5,10,auto)") \
                from None
        if ks[-1] < 2:
            raise ClustError(f"--k {value!r}: every K must be at least 2")
    return ks


def _criteria(images: dict[str, ImageSet], ks: list[int | str | None]) -> dict[str, dict[int, float]]:
    """For a K sweep, the label-free eigengap score of each swept K on each dataset's pixels (what ``--k auto``
    maximises), reported next to the metrics."""
    swept = [k for k in ks if isinstance(k, int)]
    if len(swept) < 2:
        return {}
    scores = {}
    for spec, data in images.items():
        if max(swept) < data.n - 1:
            scores[spec] = estimate_k(pixel_features(data.images), max(swept)).scores
    return scores


def _sets(items: Iterable[str], recipes: list[str]) -> dict[str, tuple[str, ...]]:
    """``RECIPE:KEY=VALUE`` for one recipe, ``KEY=VALUE`` for all (key ``""``)."""
    sets: dict[str, tuple[str, ...]] = {"": ("report=false",)}  # the pictures are the bench's, not each run's
    for item in items:
        key = item.partition("=")[0]
        recipe, colon, _ = key.partition(":")
        if colon and recipe not in recipes:
            raise ClustError(f"--set {item}: {recipe!r} is not one of the benched recipes ({', '.join(recipes)})")
        target, value = (recipe, item[len(recipe) + 1:]) if colon else ("", item)
        sets[target] = sets.get(target, ()) + (value,)
    return sets


def _check(registry: Registry, cells: list[Cell], device: str | None) -> dict[str, ImageSet]:
    """Resolve each distinct (recipe, dataset, K, sets) as ``clust run`` would: a mistake stops the bench here."""
    images: dict[str, ImageSet] = {}
    seen: set[tuple] = set()
    for cell in cells:
        key = (cell.recipe, cell.dataset, cell.k, cell.sets)
        if key in seen:
            continue
        seen.add(key)
        request = RunRequest(plugin=cell.recipe, dataset=cell.dataset, sets=cell.sets, k=cell.k, seed=cell.seed,
                             device=device)
        try:
            if cell.dataset not in images:  # as loaded: a recipe may resize its own copy (RecipeSpec.input_size)
                images[cell.dataset] = load_dataset(cell.dataset)
            resolve(registry, request, images=images[cell.dataset])
        except ClustError as exc:
            raise ClustError(f"{cell.recipe} on {cell.label}: {exc}") from None
    return images


@click.command("bench")
@click.option("--plugins", "recipes", multiple=True, metavar="A,B,…",
              help="Recipes or plugins to compare (default: every installed recipe).")
@click.option("--datasets", multiple=True, metavar="D1,D2,…", help="Dataset specs as for clust run (default digits).")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per recipe and dataset, seeds 0..N-1.")
@click.option("--k", "k", default=None, metavar="K|K1,K2,…|auto",
              help="Number of clusters, a list to sweep (each K's eigengap on the pixels is reported beside the "
                   "metrics), or auto (estimated per run); default: the number of labels.")
@click.option("--set", "sets", multiple=True, metavar="[RECIPE:]KEY=VALUE",
              help="An override for every cell, or for one recipe's cells (spice:joint.epochs=2). Cells run with "
                   "report=false unless --set report=true.")
@click.option("--budget", default=None, metavar="TIME|NSTEPS",
              help="Every cell's clust run --budget: equal compute (5m, 90s) or equal steps (2000steps).")
@click.option("--device", default=None, help="As for clust run (default auto).")
@click.option("--out", default="bench", show_default=True, type=click.Path(file_okay=False),
              help="Folder of the cells, results.csv, table.md and bench.png; rerun to resume.")
@click.option("--retry-failed", is_flag=True, help="Run cells that failed in an earlier bench again.")
@click.pass_obj
def bench_command(registry: Registry, recipes: tuple[str, ...], datasets: tuple[str, ...], seeds: int,
                  k: str | None, sets: tuple[str, ...], budget: str | None, device: str | None, out: str,
                  retry_failed: bool) -> None:
    """Compare recipes over datasets and seeds: results.csv, table.md (mean ± std) and bench.png."""
    names = _names(recipes) or sorted(registry.recipes, key=lambda name: (name != "kmeans", name))
    if budget is not None:
        parse_budget(budget)
    ks = _ks(k)
    cells = plan(names, _names(datasets) or ["digits"], seeds, ks, _sets(sets, names),
                 ("--device", device) if device else (), budget)
    criteria = _criteria(_check(registry, cells, device), ks)
    output.release()
    folder = Path(out).expanduser().absolute()
    command = shlex.join(["clust", "bench", *sys.argv[2:]] if sys.argv[1:2] == ["bench"] else ["clust", "bench"])
    rows, machine = [], machine_line()
    bar = tqdm(cells, desc="bench", unit="cell", file=sys.stderr, dynamic_ncols=True)
    for i, cell in enumerate(bar, 1):
        cell_dir = folder / "cells" / cell.name
        row = finished(cell_dir)
        reused = row is not None and (row["status"] == "ok" or not retry_failed)
        if not reused:
            bar.set_postfix_str(f"{cell.recipe} on {cell.label}, seed {cell.seed}")
            row = run_cell(cell, cell_dir)
        if isinstance(cell.k, int) and cell.dataset in criteria:
            row = {**row, "k_criterion": criteria[cell.dataset].get(cell.k)}
        rows.append(row)
        tqdm.write(f"[{i}/{len(cells)}] {_describe(row)}{' (finished earlier)' if reused else ''}", file=sys.stderr)
        if not reused:  # the files follow each new cell; finished ones are written once, below
            _write(rows, folder, command, machine)
    bar.close()
    _write(rows, folder, command, machine)
    click.echo(f"ACC, mean ± std over seeds:\n{table(rows, 'acc')}")
    click.echo(f"{sum(r['status'] == 'ok' for r in rows)} of {len(rows)} cells finished; table: "
               f"{folder / 'table.md'}, plot: {folder / 'bench.png'}")


def _describe(row: dict) -> str:
    head = f"{row['recipe']} on {row['dataset']}, seed {row['seed']}"
    if row["status"] != "ok":
        return f"{head}: FAILED {row['error']}"
    acc = "no labels" if row.get("acc") is None else f"ACC {row['acc']:.4f}"
    return f"{head}: {acc} in {row['wall_seconds']:.0f} s"


def _write(rows: list[dict], folder: Path, command: str, machine: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(rows, folder / "results.csv")
    write_markdown(rows, folder / "table.md", command, machine)
    plot_bench(rows, folder / "bench.png")
