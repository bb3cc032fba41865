"""Every plugin's default run on the built-in digits, before (per-sample views) and now, in one command.

Runs ``clust run --plugin NAME --dataset digits --set report=false`` for each
plugin in a fresh subprocess, with the code of ``throughput.BEFORE`` and with
the working tree, one after the other, each with an empty stage cache: the
seed is the default (0), so the two sides differ only by the code.

    .venv/bin/python benchmarks/digits_defaults.py [--plugins dccm dccs jule spice]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_rows, markdown_table, write_report  # noqa: E402
from throughput import BEFORE, REPO, side_env  # noqa: E402

PATTERN = re.compile(r"ACC (\S+)\s+NMI (\S+)\s+ARI (\S+)")


def run(side: str, plugin: str) -> tuple[float, tuple[str, str, str]]:
    """Wall seconds and (ACC, NMI, ARI) of one default digits run."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "clust_core.cli", "run", "--plugin", plugin, "--dataset", "digits",
                              "--set", "report=false", "--out", tmp], env={**side_env(side), "CLUST_CACHE_DIR": tmp},
                             capture_output=True, text=True, cwd=REPO)
        seconds = time.perf_counter() - start
    found = PATTERN.search(out.stdout)
    if out.returncode or not found:
        raise SystemExit(f"error: {plugin} ({side}) failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return seconds, found.groups()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", nargs="*", default=["dccm", "dccs", "jule", "spice"])
    parser.add_argument("--sides", nargs="+", choices=("before", "now"), default=["before", "now"],
                        help="now alone compares with the before side recorded earlier (say which in the notes)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "digits_defaults.md")
    args = parser.parse_args()
    rows = []
    for plugin in args.plugins:
        results = {side: run(side, plugin) for side in args.sides}
        for side, (seconds, scores) in results.items():
            rows.append((plugin, side, *scores, f"{seconds:.0f}"))
            print(rows[-1], flush=True)
        if len(results) == 2:
            rows.append((plugin, "before / now", "", "", "", f"{results['before'][0] / results['now'][0]:.2f}x"))
    title = ("Default runs on digits: per-sample views (before) vs batched views (now)" if len(args.sides) == 2
             else f"Default runs on digits ({args.sides[0]} only)")
    write_report(args.out, title, [
        "## Machine\n\n" + markdown_table(("field", "value"), machine_rows()),
        f"## `clust run --plugin NAME --dataset digits` (seed 0)"
        + (f", before = commit {BEFORE}" if "before" in args.sides else "") + "\n\n"
        + markdown_table(("plugin", "side", "ACC", "NMI", "ARI", "seconds (whole command)"), rows)])


if __name__ == "__main__":
    main()
