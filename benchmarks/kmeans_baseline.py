"""The k-means baseline: the ``kmeans`` recipe (k-means on raw pixels) on the shared benchmark datasets.

Runs ``Clusterer(plugin="kmeans", report=False).fit("npz:<path>")`` with k = the number of
classes and seed 0, which is ``core.kmeans`` (FAISS, 100 iterations, best of 10 runs) on the
pixels scaled to [0, 1]. Prints and writes a markdown table of ACC, NMI (geometric), ARI and the
median wall time of ``fit`` over ``--repeats`` runs (loading the archive included).

    .venv/bin/python benchmarks/kmeans_baseline.py
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch  # noqa: F401  (torch before faiss, as the DESIGN asks)

from clust_core import Clusterer
from common import RESULTS_DIR, dataset_path, machine_load, machine_rows, markdown_table, median, write_report

DATASETS = ("mnist_test", "fashion_mnist_test", "usps", "coil20", "umist", "cmu_pie", "orl", "coil100_32",
            "cifar10_subset5k")
HEADERS = ("dataset", "N", "image size", "k", "ACC", "NMI (geometric)", "ARI", "seconds (median)", "seconds (min-max)",
           "runs agree")


def describe(path: Path) -> tuple[int, str, int]:
    """(N, image size as HxW or HxWx3, number of classes) of an archive."""
    with np.load(path) as archive:
        shape, labels = archive["images"].shape, archive["labels"]
    return shape[0], "x".join(str(side) for side in shape[1:]), int(np.unique(labels).size)


def run_dataset(name: str, repeats: int) -> tuple[object, ...]:
    """Fit the recipe ``repeats`` times on one dataset; return its table row."""
    path = dataset_path(name)
    n, size, k = describe(path)
    seconds, results = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        model = Clusterer(plugin="kmeans", k=k, seed=0, report=False).fit(f"npz:{path}")
        seconds.append(time.perf_counter() - start)
        results.append((model.metrics_["acc"], model.metrics_["nmi"], model.metrics_["ari"]))
    assert model.metrics_["nmi_average"] == "geometric", model.metrics_["nmi_average"]
    acc, nmi, ari = results[0]
    agree = "yes" if all(result == results[0] for result in results) else "NO"
    return (name, n, size, k, f"{acc:.4f}", f"{nmi:.4f}", f"{ari:.4f}", f"{median(seconds):.2f}",
            f"{min(seconds):.2f}-{max(seconds):.2f}", agree)


def main() -> None:
    """Parse arguments, run every chosen dataset, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS, metavar="NAME",
                        help=f"datasets to run (default: all of {', '.join(DATASETS)})")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per dataset; the median is reported")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "kmeans_baseline.md", help="markdown file to write")
    args = parser.parse_args()
    for name in args.datasets:
        dataset_path(name)

    machine = markdown_table(("field", "value"), machine_rows())
    print(machine + "\n")
    rows = []
    for name in args.datasets:
        rows.append(run_dataset(name, args.repeats))
        print(markdown_table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    table = markdown_table(HEADERS, rows)
    print("\n" + table)
    notes = (f"k = number of classes, seed 0, {args.repeats} fits per dataset. Seconds = median wall time of "
             "`Clusterer.fit` (loads and decompresses the archive, scales pixels to [0, 1], k-means with "
             "n_iter 100 and n_redo 10, metrics). \"runs agree\" = identical ACC/NMI/ARI in every fit. "
             f"Machine load at the end: {machine_load()}.")
    write_report(args.out, "k-means baseline (the `kmeans` recipe on raw pixels)",
                 ["## Machine\n\n" + machine, "## Results\n\n" + table, notes])


if __name__ == "__main__":
    main()
