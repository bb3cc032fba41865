"""SCAN next to k-means, SPICE-Self and SPICE on the same data, sharing one MoCo v2 pretext stage.

Every recipe runs with its defaults for the data (the papers' schedules on the papers' datasets, the plugins'
CPU schedules on the small grey sets), seed 0, on the CPU. The pretext stage (SPICE's MoCo v2, which SCAN
shares) is computed once per dataset, by the first recipe that needs it, and loaded from the stage cache by
the others: its time is a row of its own, and each recipe's seconds are the rest of its run. Rows: k-means on
pixels; k-means on the MoCo embedding (stage 1); SPICE-Self; SPICE; SCAN's step (its mined neighbours'
purity) and SCAN with self-labelling. ``--set`` shortens schedules for a stated CPU budget: ``KEY=VALUE``
applies to every deep recipe (``pretrain.epochs=20``: they share the stage, so it must be equal), and
``RECIPE:KEY=VALUE`` to one (``scan:scan.epochs=20``).

    .venv/bin/python benchmarks/scan_bench.py --datasets digits
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402,F401  (torch before faiss)

from clust_core import runs  # noqa: E402
from clust_core.accelerate import Accelerator  # noqa: E402
from clust_core.registry import load_registry  # noqa: E402
from clust_core.resolve import RunRequest, resolve  # noqa: E402
from clust_core.runner import Runner  # noqa: E402
from clust_core.stage_cache import CACHE_DIR_ENV  # noqa: E402
from common import RESULTS_DIR, dataset_path, machine_load, machine_rows, markdown_table, write_report  # noqa: E402

HEADERS = ("dataset", "row", "ACC", "NMI", "ARI", "seconds")
RECIPES = ("kmeans", "spice-self", "spice", "scan")


def spec_of(name: str) -> str:
    """``digits`` is built in; the other names are ``../shared/datasets/<name>.npz``."""
    return "digits" if name == "digits" else f"npz:{dataset_path(name)}"


def run(recipe: str, name: str, sets: list[str]) -> tuple[list[dict], float]:
    """One recipe on one dataset with its defaults; its metrics records and wall seconds."""
    registry = load_registry()
    request = RunRequest(plugin=recipe.split("-")[0], recipe=recipe, dataset=spec_of(name),
                         sets=["report=false", *sets], seed=0, device="cpu")
    config, images = resolve(registry, request)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        Runner(registry, config, images, Accelerator("cpu"), Path(tmp), log=print).run()
        return runs.read_metrics(Path(tmp)), time.perf_counter() - start


def final(records: list[dict], stage: str) -> dict:
    """The stage's final (or cached) record."""
    return next(r for r in records if r.get("stage") == stage and (r.get("final") or "cached" in r))


def row(name: str, label: str, record: dict, seconds: str) -> tuple:
    return (name, label, f"{record['acc']:.4f}", f"{record['nmi']:.4f}", f"{record['ari']:.4f}", seconds)


def pretext_seconds(records: list[dict]) -> float:
    """Seconds the run spent in its pretext stage's epochs (0 when it was loaded from the cache)."""
    return sum(r.get("seconds", 0.0) for r in records if r.get("stage") == "pretrain" and "epoch" in r)


def recipe_sets(recipe: str, sets: list[str]) -> list[str]:
    """The overrides of one recipe: unprefixed ones for every deep recipe, ``RECIPE:`` ones for it alone."""
    if recipe == "kmeans":
        return []
    chosen = []
    for item in sets:
        prefix, colon, rest = item.partition(":")
        if not colon or "=" in prefix:
            chosen.append(item)
        elif prefix == recipe:
            chosen.append(rest)
    return chosen


def bench(name: str, sets: list[str]) -> list[tuple]:
    """Every row for one dataset."""
    rows = []
    for recipe in RECIPES:
        records, seconds = run(recipe, name, recipe_sets(recipe, sets))
        pretext = pretext_seconds(records)
        rest = f"{seconds - pretext:.0f}"
        if recipe == "kmeans":
            rows.append(row(name, "k-means on pixels", final(records, "cluster"), rest))
            continue
        if pretext:
            rows.append(row(name, "pretext: MoCo v2 + k-means on its embedding", final(records, "pretrain"),
                            f"{pretext:.0f}"))
        if recipe == "spice-self":
            rows.append(row(name, "SPICE-Self", final(records, "cluster"), rest))
        elif recipe == "spice":
            rows.append(row(name, "SPICE", final(records, "joint"), rest))
        else:
            purity = next(r["neighbour_purity"] for r in records if "neighbour_purity" in r)
            rows.append(row(name, f"SCAN step (neighbour purity {purity:.3f})", final(records, "scan"), ""))
            rows.append(row(name, "SCAN + self-labelling", final(records, "selflabel"), rest))
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Run the recipes on each dataset and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["digits"])
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="[RECIPE:]KEY=VALUE",
                        help="an override for every deep recipe, or for one, as clust run --set")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "scan.md")
    args = parser.parse_args()
    machine, rows = machine_rows(), []
    with tempfile.TemporaryDirectory() as cache:
        os.environ[CACHE_DIR_ENV] = cache
        for name in args.datasets:
            rows += bench(name, args.sets)
    write_report(args.out, "SCAN next to k-means, SPICE-Self and SPICE (shared MoCo v2 pretext)", [
        "## Machine\n\n" + markdown_table(("field", "value"), machine),
        f"Machine load at the end: {machine_load()}",
        "Budget: each recipe's defaults for the data (`clust show --plugin X --dataset D` lists them), seed 0, "
        "CPU; the pretext stage is computed once per dataset and shared through the stage cache."
        + (f" Overrides (shortened schedules, not the papers' or the recipes'): {', '.join(args.sets)}."
           if args.sets else ""),
        "## Results\n\n" + markdown_table(HEADERS, rows)])


if __name__ == "__main__":
    main()
