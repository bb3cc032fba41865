"""Cost of DCCM's triplet-MI term (eq. 14, DIM's local discriminator) in a training step, by tap and width.

For each setting, DCCM's main stage runs ``--steps`` optimiser steps (after 2
warm-up steps) on the first 1,024 images, as ``throughput.py`` measures them:
seconds per step, the MI loss's forward share, and the step's cost against
the same step without the MI term (its forward and backward together).
The paper's setting is the first row (tap after the 2nd conv / 3rd conv at full
resolution, width 512); the others are candidates for data the paper does not
name. Accuracy is not measured here.

    .venv/bin/python benchmarks/dccm_mi_cost.py [--data mnist_test|usps|cifar10_subset5k] [--steps 6]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_rows, markdown_table, write_report  # noqa: E402
from throughput import DATASETS, run_worker  # noqa: E402

NAMES = {**DATASETS, "usps": "USPS 16x16 grey"}

SETTINGS = {
    "paper: S tap, width 512": [],
    "S tap, width 256": ["train.losses.mi.params.hidden=256"],
    "S tap, width 128": ["train.losses.mi.params.hidden=128"],
    "code taps (first pool), width 512": ["train.representation.params.taps=code", "train.losses.mi.params.taps=code"],
    "code taps (first pool), width 128": ["train.representation.params.taps=code", "train.losses.mi.params.taps=code",
                                          "train.losses.mi.params.hidden=128"],
    "no MI term": ["train.losses.mi.enabled=false"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist_test", choices=sorted(NAMES))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "dccm_mi_cost.md")
    args = parser.parse_args()
    results = {}
    for name, sets in SETTINGS.items():
        results[name] = run_worker("now", {"recipe": "dccm", "data": args.data, "steps": args.steps, "warmup": 2,
                                           "sets": sets})
        print(name, results[name]["step_seconds"], flush=True)
    base = results["no MI term"]["step_seconds"]
    rows = []
    for name, result in results.items():
        step = result["step_seconds"]
        mi_forward = result["losses"].get("loss:mi", 0.0)
        rows.append((name, f"{step:.2f}", f"{100 * mi_forward:.0f} %", f"{100 * (step - base) / step:.0f} %",
                     f"{results['paper: S tap, width 512']['step_seconds'] / step:.1f}x"))
    write_report(args.out, f"DCCM: cost of the triplet-MI term on {NAMES[args.data]}", [
        "## Machine\n\n" + markdown_table(("field", "value"), machine_rows()),
        f"## Seconds per step (32 images, {args.steps} steps after 2 warm-up), CPU\n\n"
        + markdown_table(("setting", "s / step", "MI forward share", "MI share (vs no MI)", "paper / setting"),
                         rows)])


if __name__ == "__main__":
    main()
