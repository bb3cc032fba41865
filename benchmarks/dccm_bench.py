"""DCCM on the shared grey digit sets, next to the ``kmeans`` recipe, with the paper's ablation (Table 3).

A CPU budget run: the ``dccm`` recipe with a *shortened schedule* (``--epochs`` epochs of
``--repeats`` inner repeats instead of 10, the rest as the recipe: outer batch 1000, 32-image
mini-batches, 2 augmented draws, RMSprop 1e-4) and, on the CPU, a ``--mi-hidden``-wide MI
discriminator (512 in the paper). Ablation rows follow Table 3: M1 = L_PG on the original images,
M2 = + L'_PG (local robustness), M3 = + L_PL + L'_PL, M4 = + L_MI (the full eq. 15).

    .venv/bin/python benchmarks/dccm_bench.py
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch  # noqa: F401  (torch before faiss)

from clust_core.accelerate import Accelerator
from clust_core.registry import load_registry
from clust_core.resolve import RunRequest, resolve
from clust_core.runner import Runner
from clust_core.runs import read_metrics
from common import (RESULTS_DIR, dataset_path, kmeans_scores, machine_load, machine_rows, markdown_table,
                    write_report)

ABLATION = {"M1 L_PG": ("graph",), "M2 + LR": ("graph", "graph_aug"),
            "M3 + PL": ("graph", "graph_aug", "label", "label_aug"),
            "M4 + MI (DCCM)": ("graph", "graph_aug", "label", "label_aug", "mi")}
HEADERS = ("dataset", "method", "terms", "epochs x repeats", "steps", "ACC", "NMI", "ARI", "seconds",
           "ACC after each epoch")


def run_dccm(name: str, terms: tuple[str, ...], epochs: int, repeats: int, mi_hidden: int,
             extra: list[str]) -> tuple[dict, int, float, list[float]]:
    """Train the ``dccm`` recipe restricted to ``terms``, with the ``--set`` overrides ``extra``.

    Returns:
        (final metrics, optimiser steps, seconds, ACC after each epoch).
    """
    registry = load_registry()
    sets = [f"train.epochs={epochs}", f"train.loop.params.repeats={repeats}", "train.eval_every=1",
            f"train.losses.mi.params.hidden={mi_hidden}", "report=false", *extra]
    config, images = resolve(registry, RunRequest(plugin="dccm", dataset=f"npz:{dataset_path(name)}", sets=sets,
                                                  seed=0, device="cpu"))
    stage = config.stages["train"]
    for key in [key for key in stage.losses if key not in terms]:
        del stage.losses[key]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = Runner(registry, config, images, Accelerator("cpu"), Path(run_dir)).run()
        curve = [record["acc"] for record in read_metrics(Path(run_dir)) if "acc" in record and "epoch" in record]
    seconds = time.perf_counter() - start
    outer = images.n // stage.batch_size
    loop = stage.loop.params
    steps = epochs * outer * repeats * (stage.batch_size // loop["inner_batch"]) * loop["draws"]
    return result.metrics, steps, seconds, curve + [result.metrics["acc"]]


def main() -> None:
    """Run k-means and DCCM (full on every dataset, the ablation on ``--ablation``), print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["usps", "mnist_test"], help="k-means on each")
    parser.add_argument("--dccm", nargs="*", default=["usps", "mnist_test"], help="datasets that get DCCM (M4)")
    parser.add_argument("--ablation", nargs="*", default=["usps"], help="datasets that also get rows M1-M3")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="inner repeats per outer batch (paper: 10)")
    parser.add_argument("--mi-hidden", type=int, default=64, help="MI discriminator width (paper: 512)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every DCCM run, as `clust run --set`")
    parser.add_argument("--out", default=str(RESULTS_DIR / "dccm.md"))
    args = parser.parse_args()
    machine = machine_rows()
    rows = []
    for name in args.datasets:
        rows.append((name, "kmeans (pixels)", "-", "-", "-", *kmeans_scores(name), "-"))
        print(rows[-1], flush=True)
        variants = ABLATION if name in args.ablation else {
            "M4 + MI (DCCM)": ABLATION["M4 + MI (DCCM)"]} if name in args.dccm else {}
        for method, terms in variants.items():
            metrics, steps, seconds, curve = run_dccm(name, terms, args.epochs, args.repeats, args.mi_hidden, args.sets)
            rows.append((name, method, "+".join(terms), f"{args.epochs} x {args.repeats}", steps,
                         f"{metrics['acc']:.4f}", f"{metrics['nmi']:.4f}", f"{metrics['ari']:.4f}", f"{seconds:.1f}",
                         " ".join(f"{acc:.3f}" for acc in curve)))
            print(rows[-1], flush=True)
    table = markdown_table(HEADERS, rows)
    print(table)
    budget = (f"Budget: CPU, {args.epochs} epoch(s) x {args.repeats} inner repeat(s) per outer batch "
              f"(the paper's schedule is 10 repeats, 200 epochs on CIFAR), MI discriminator width "
              f"{args.mi_hidden} (paper 512). Shortened schedule: these are not the paper's training budgets."
              + (f" Overrides: {', '.join(args.sets)}." if args.sets else ""))
    write_report(Path(args.out), "DCCM benchmark (shortened CPU schedule)",
                 ["## Machine\n\n" + markdown_table(("field", "value"), machine),
                  f"Machine load at the end: {machine_load()}", budget, "## Results\n\n" + table])


if __name__ == "__main__":
    main()
