"""SPICE on the shared datasets: every stage's ACC/NMI/ARI, the reliable set, next to the ``kmeans`` recipe.

A CPU budget run of the ``spice`` recipe with a *shortened schedule* (``--pretrain`` MoCo epochs instead
of 1000, ``--cluster`` SPICE-Self epochs of ``--repeats`` repeats instead of 30-100 of 8, ``--joint``
FixMatch epochs instead of 2^20 iterations); everything else is the recipe's (queue, batch sizes,
optimisers, thresholds). Rows per dataset: k-means on pixels; stage 1 (k-means on the MoCo embedding);
SPICE-Self (the lowest-loss head); the reliable labels (share kept, their ACC); SPICE (the EMA network).

    .venv/bin/python benchmarks/spice_bench.py --datasets mnist_test --pretrain 20 --cluster 5 --joint 10
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch  # noqa: F401  (torch before faiss)

from clust_core import runs
from clust_core.accelerate import Accelerator
from clust_core.registry import load_registry
from clust_core.resolve import RunRequest, resolve
from clust_core.runner import Runner
from common import (RESULTS_DIR, dataset_path, kmeans_scores, machine_load, machine_rows, markdown_table,
                    write_report)

HEADERS = ("dataset", "row", "epochs", "ACC", "NMI", "ARI", "kept", "seconds")
STAGE_ROWS = {"pretrain": "stage 1: MoCo v2 + k-means", "cluster": "SPICE-Self (selected head)",
              "joint": "SPICE (joint, EMA)"}


def run_spice(name: str, args: argparse.Namespace) -> tuple[list[dict], float]:
    """Train the shortened ``spice`` recipe on ``name``; return its metrics records and seconds."""
    registry = load_registry()
    sets = [f"pretrain.epochs={args.pretrain}", f"cluster.epochs={args.cluster}",
            f"cluster.loop.params.repeats={args.repeats}", f"joint.epochs={args.joint}", "cluster.eval_every=0",
            "joint.eval_every=0", "report=false"]
    config, images = resolve(registry, RunRequest(plugin="spice", dataset=f"npz:{dataset_path(name)}", sets=sets,
                                                  seed=0, device="cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        Runner(registry, config, images, Accelerator("cpu"), Path(tmp), log=print).run()
        return runs.read_metrics(Path(tmp)), time.perf_counter() - start


def rows_for(name: str, records: list[dict], seconds: float, args: argparse.Namespace) -> list[tuple]:
    """Table rows from a run's metrics records."""
    epochs = {"pretrain": args.pretrain, "cluster": f"{args.cluster} x {args.repeats} repeats", "joint": args.joint}
    rows = []
    for stage, label in STAGE_ROWS.items():
        final = next(r for r in records if r.get("stage") == stage and (r.get("final") or "cached" in r))
        rows.append((name, label, epochs[stage], f"{final['acc']:.4f}", f"{final['nmi']:.4f}", f"{final['ari']:.4f}",
                     "", f"{seconds:.0f} (all stages)" if stage == "joint" else ""))
        if stage == "cluster":
            reliable = next(r for r in records if r.get("labeler") == "reliable")
            kept_acc = reliable.get("kept_acc", reliable["acc"])  # no "kept_acc" when every image is kept
            rows.append((name, "reliable labels (ACC of the kept)", "-", f"{kept_acc:.4f}",
                         "", "", f"{reliable.get('kept', 1.0):.3f}", ""))
    return rows


def main() -> None:
    """Run k-means and the shortened SPICE per dataset, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist_test"])
    parser.add_argument("--pretrain", type=int, default=20, help="MoCo epochs (paper: 1000)")
    parser.add_argument("--cluster", type=int, default=5, help="SPICE-Self epochs (paper: 30 CIFAR-10, 100 others)")
    parser.add_argument("--repeats", type=int, default=2, help="passes over each big batch (paper: 8)")
    parser.add_argument("--joint", type=int, default=10, help="FixMatch epochs of 448 images (paper: 2^20 steps)")
    parser.add_argument("--out", default=str(RESULTS_DIR / "spice.md"))
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        acc, nmi, ari, seconds = kmeans_scores(name)
        rows.append((name, "kmeans (pixels)", "-", acc, nmi, ari, "", seconds))
        records, seconds = run_spice(name, args)
        rows.extend(rows_for(name, records, seconds, args))
        print(markdown_table(HEADERS, rows), flush=True)
    table = markdown_table(HEADERS, rows)
    budget = (f"Budget: CPU, MoCo {args.pretrain} epochs (paper 1000), SPICE-Self {args.cluster} epochs x "
              f"{args.repeats} repeats (paper 30-100 x 8), FixMatch {args.joint} epochs of 448 unlabelled + 64 "
              f"labelled images (paper 2^20 steps). Shortened schedules: not the paper's training budgets.")
    write_report(Path(args.out), "SPICE benchmark (shortened CPU schedule)",
                 ["## Machine\n\n" + markdown_table(("field", "value"), machine_rows()),
                  f"Machine load at the end: {machine_load()}", budget, "## Results\n\n" + table])


if __name__ == "__main__":
    main()
