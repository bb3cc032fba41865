"""Quality of the ``jule`` recipe on JULE's datasets, next to the ``kmeans`` recipe and to the
agglomerative assignment on raw pixels (no CNN), all measured in the same run.

JULE's schedule is SHORTENED for the CPU budget: ``--every`` epochs per period instead of
the paper's 20 (the number of merging periods and everything else are the recipe's).
Reports NMI/ACC/ARI of OURS-SF (the recurrent process's final labels) and OURS-RC
(re-clustering the final features from scratch: the stage's assignment).

    .venv/bin/python benchmarks/jule_bench.py [--datasets mnist_test usps ...] [--every 2]

``mnist_full`` is ``mnist_test`` + ``mnist_train`` (70,000 images, read as ``npz:A+B``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, dataset_path, machine_load, machine_rows, markdown_table  # noqa: E402

PAPER_RC = {"mnist_test": 0.915, "usps": 0.913, "coil20": 1.000, "umist": 0.877, "cmu_pie": 1.00,
            "mnist_full": 0.913}
"""Paper Table 3 (OURS-RC, NMI)."""

PARTS = {"mnist_full": ("mnist_test", "mnist_train")}
"""Benchmark names made of several shared archives, concatenated in order (MNIST-full: 70,000 images)."""


def fmt(metrics: dict) -> str:
    return f"{metrics['nmi']:.3f} / {metrics['acc']:.3f} / {metrics['ari']:.3f}"


def run(name: str, every: int, seed: int, form: str) -> list[object]:
    import numpy as np
    from clust_core import Clusterer
    from clust_core.metrics import evaluate
    from clust_jule.recipe import merge_periods, unrolling_rate
    from clust_core.recipe import DataInfo

    paths = [dataset_path(part) for part in PARTS.get(name, (name,))]
    spec = "npz:" + "+".join(str(path) for path in paths)
    labels = np.concatenate([np.load(path)["labels"] for path in paths])
    n, k = len(labels), len(np.unique(labels))
    eta = unrolling_rate(DataInfo(f"npz:{name}", (1, 1, 1), n, k))
    epochs = every * (merge_periods(n, k, eta) + 1)
    start = time.perf_counter()
    kmeans = Clusterer("kmeans", report=False, seed=seed).fit(spec).metrics_
    pixels = Clusterer("kmeans", report=False, seed=seed, cluster__assignment="jule.agglomerative").fit(spec).metrics_
    base = time.perf_counter()
    model = Clusterer("jule", report=False, seed=seed, jule__epochs=epochs,
                      jule__labelers__clusters__every=every, jule__losses__triplet__params__form=form).fit(spec)
    seconds = time.perf_counter() - base
    sf = evaluate(labels, model._parts.labelers["clusters"].labels)
    print(name, "done", round(time.perf_counter() - start, 1), flush=True)
    return [name, n, k, eta, f"{epochs} ({every}/period)", fmt(kmeans), fmt(pixels), fmt(sf), fmt(model.metrics_),
            PAPER_RC[name], f"{seconds:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=list(PAPER_RC))
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--form", default="paper", choices=["paper", "hinge"], help="jule.triplet form")
    parser.add_argument("--faces-every", type=int, default=1,
                        help="epochs per period for the η = 0.2 face sets (many more periods)")
    parser.add_argument("--out", default=None, help="results file (default: results/jule[_FORM].md)")
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        rows.append(run(name, args.faces_every if name in ("umist", "cmu_pie") else args.every, args.seed, args.form))
        write(args, rows)


def write(args: argparse.Namespace, rows: list[list[object]]) -> None:
    """Write the results file (after every dataset, so a cut-short run keeps what it measured)."""
    headers = ["data", "N", "k", "η", "epochs (shortened)", "kmeans NMI/ACC/ARI", "AC-GDL pixels NMI/ACC/ARI",
               "JULE-SF NMI/ACC/ARI", "JULE-RC NMI/ACC/ARI", "paper RC NMI", "JULE s"]
    text = "\n\n".join([
        f"# JULE quality (shortened CPU schedule, triplet form '{args.form}')",
        f"Command: `.venv/bin/python benchmarks/jule_bench.py --datasets {' '.join(args.datasets)} "
        f"--every {args.every} --faces-every {args.faces_every} --seed {args.seed} --form {args.form}"
        + (f" --out {args.out}`" if args.out else "`"),
        f"Budget: CPU only (2 shared cores); {args.every} epochs per period ({args.faces_every} for faces) "
        "instead of the paper's 20, one seed. "
        "'AC-GDL pixels' is `kmeans` recipe with `cluster.assignment=jule.agglomerative` (no CNN).",
        markdown_table(["field", "value"], machine_rows()),
        markdown_table(headers, rows),
        f"Machine load at end: {machine_load()}"])
    default = RESULTS_DIR / ("jule.md" if args.form == "paper" else f"jule_{args.form}.md")
    (Path(args.out) if args.out else default).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
