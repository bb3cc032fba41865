"""DCCM's MI tap and width against accuracy at equal steps, on data the paper does not name (USPS, MNIST-test).

The cost side is ``dccm_mi_cost.py`` (seconds per step on a quiet machine); this
script trains the full ``dccm`` recipe (eq. 15, all five terms) for the same
number of optimiser steps under each MI setting and reports ACC/NMI/ARI next to
k-means on pixels. The paper's setting (S tap, width 512) is the reference row;
the others are the candidates of ``dccm_mi_cost.py``.

    .venv/bin/python benchmarks/dccm_sizing.py --datasets usps mnist_test --epochs 1 --repeats 1
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, kmeans_scores, machine_load, machine_rows, markdown_table, write_report  # noqa: E402
from dccm_bench import ABLATION, run_dccm  # noqa: E402
from dccm_mi_cost import SETTINGS  # noqa: E402

CANDIDATES = [name for name in SETTINGS if name != "no MI term"]
HEADERS = ("dataset", "MI setting", "epochs x repeats", "steps", "ACC", "NMI", "ARI", "seconds", "s / step")


def main() -> None:
    """Train DCCM once per (dataset, MI setting) at equal steps and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["usps", "mnist_test"])
    parser.add_argument("--settings", nargs="+", default=[CANDIDATES[0], CANDIDATES[-1]],
                        help=f"names from {CANDIDATES}")
    parser.add_argument("--skip", nargs="*", default=[], metavar="DATASET:SETTING",
                        help="cells left out (e.g. the paper's setting where one epoch takes too long)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1, help="inner repeats per outer batch (paper: 10)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "dccm_sizing.md")
    args = parser.parse_args()
    unknown = set(args.settings) - set(CANDIDATES)
    if unknown:
        parser.error(f"unknown settings {sorted(unknown)}; choose from {CANDIDATES}")
    machine, rows = machine_rows(), []
    for name in args.datasets:
        rows.append((name, "k-means on pixels", "-", "-", *kmeans_scores(name), "-"))
        print(rows[-1], flush=True)
        for setting in args.settings:
            if f"{name}:{setting}" in args.skip:
                continue
            sets = [s for s in SETTINGS[setting] if not s.startswith("train.losses.mi.params.hidden")]
            hidden = next((int(s.split("=")[1]) for s in SETTINGS[setting] if ".hidden=" in s), 512)
            metrics, steps, seconds, _ = run_dccm(name, ABLATION["M4 + MI (DCCM)"], args.epochs, args.repeats,
                                                  hidden, sets)
            rows.append((name, setting, f"{args.epochs} x {args.repeats}", steps, f"{metrics['acc']:.4f}",
                         f"{metrics['nmi']:.4f}", f"{metrics['ari']:.4f}", f"{seconds:.0f}",
                         f"{seconds / steps:.2f}"))
            print(rows[-1], flush=True)
    write_report(args.out, "DCCM: MI tap and width against accuracy at equal steps", [
        "## Machine\n\n" + markdown_table(("field", "value"), machine),
        f"Machine load at the end: {machine_load()}",
        f"Budget: CPU, {args.epochs} epoch(s) x {args.repeats} inner repeat(s) per outer batch (the recipe's "
        "defaults are 15 x 10 on these sets), one seed (0); the full eq. 15. Seconds include the "
        "evaluations; s / step is therefore above `dccm_mi_cost.py`'s.",
        "## Results\n\n" + markdown_table(HEADERS, rows)])


if __name__ == "__main__":
    main()
