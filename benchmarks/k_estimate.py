"""``--k auto``'s criteria on the raw pixels of the shared datasets: the K each estimates against the true K.

Each dataset is loaded, flattened to float32 in [0, 1] and given to :func:`clust_core.k_estimate.estimate_k`
with K from 2 to min(50, N - 1), once per criterion, seed 0; the seconds are each estimate's.

    .venv/bin/python benchmarks/k_estimate.py --datasets digits usps coil20 umist orl mnist_test [--criteria eigengap]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clust_core.data import load_dataset  # noqa: E402
from clust_core.k_estimate import CRITERIA, default_k_max, estimate_k, pixel_features  # noqa: E402
from common import RESULTS_DIR, dataset_path, machine_load, machine_rows, markdown_table, write_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["digits"])
    parser.add_argument("--criteria", nargs="+", choices=CRITERIA, default=list(CRITERIA))
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "k_estimate.md")
    args = parser.parse_args()
    machine, rows = machine_rows(), []
    columns = [title for criterion in args.criteria for title in (f"{criterion} K", "s")]
    for name in args.datasets:
        data = load_dataset("digits" if name == "digits" else f"npz:{dataset_path(name)}")
        features, row = pixel_features(data.images), [name, str(data.n), str(len(np.unique(data.labels)))]
        for criterion in args.criteria:
            start = time.perf_counter()
            estimate = estimate_k(features, default_k_max(data.n), criterion)
            row += [str(estimate.k), f"{time.perf_counter() - start:.1f}"]
            print(name, estimate.describe(), flush=True)
        rows.append(tuple(row))
    write_report(args.out, "Estimating K from raw pixels (`--k auto`)", [
        "## Machine\n\n" + markdown_table(("field", "value"), machine),
        f"Machine load at the end: {machine_load()}",
        "## Results\n\n" + markdown_table(("dataset", "n", "true K", *columns), rows)])


if __name__ == "__main__":
    main()
