"""Exact kNN speed and memory: ``knn(backend="faiss")`` against ``knn(backend="torch")`` on MNIST pixels.

Features are the raw MNIST pixels flattened and L2-normalised (784-d float32): the 10,000 test
images, and train + test (70,000). Each case searches the queries against all N points with
metric "ip" (self included) and runs in a fresh subprocess, which reports the wall time of the
``knn`` call and the growth of peak resident memory during it (VmHWM after the call minus VmRSS
before it, the peak having been reset through /proc/self/clear_refs). Both backends run in the
same invocation; the table gives the medians over ``--repeats`` processes, their ratio and how
often the two backends return the same neighbours. It also times
``knn_graph(features, 20, weight="gaussian")`` on the 70,000 points (FAISS, metric l2).

Sizes above ``--full-limit`` search only the first ``--sample-queries`` queries and extrapolate
the time linearly to all N queries; such rows are labelled "extrapolated".

    .venv/bin/python benchmarks/knn_speed.py
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import RESULTS_DIR, dataset_path, machine_load, machine_rows, markdown_table, median, write_report

BACKENDS = ("faiss", "torch")
HEADERS = ("N", "k", "queries timed", "faiss s", "torch s", "torch / faiss", "faiss peak +MiB", "torch peak +MiB",
           "same index at same rank", "same neighbour sets", "max abs score diff")


def proc_status_kib(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def worker(task: dict) -> None:
    """Run one measured call in this fresh process and print its seconds and peak memory growth as JSON."""
    import torch  # noqa: F401  (torch before faiss, as the DESIGN asks)

    from clust_core.neighbors import knn, knn_graph

    features = np.load(task["features"])
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident size
    before = proc_status_kib("VmRSS")
    start = time.perf_counter()
    if task["kind"] == "graph":
        result = knn_graph(features, task["k"], "l2", weight="gaussian")
    else:
        result = knn(features[: task["queries"]], features, task["k"], "ip", backend=task["backend"])
    seconds = time.perf_counter() - start
    growth_mib = (proc_status_kib("VmHWM") - before) / 1024
    if task.get("save"):
        np.savez(task["save"], scores=result[0], indices=result[1])
    print(json.dumps({"seconds": seconds, "peak_growth_mib": growth_mib}))


def measure(task: dict, repeats: int) -> tuple[float, float]:
    """Median (seconds, peak growth MiB) of ``task`` over ``repeats`` fresh subprocesses."""
    runs = []
    for repeat in range(repeats):
        payload = json.dumps({**task, "save": task.get("save") if repeat == 0 else None})
        done = subprocess.run([sys.executable, __file__, "--worker", payload], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"worker failed for {task}:\n{done.stderr}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return median([run["seconds"] for run in runs]), median([run["peak_growth_mib"] for run in runs])


def agreement(first: Path, second: Path) -> tuple[float, float, float]:
    """(same index at the same rank, same neighbour set, max |score difference|) of two saved results."""
    with np.load(first) as a, np.load(second) as b:
        index_a, index_b, score_a, score_b = a["indices"], b["indices"], a["scores"], b["scores"]
    same_rank = float((index_a == index_b).mean())
    overlap = np.mean([np.intersect1d(row_a, row_b).size for row_a, row_b in zip(index_a, index_b)]) / index_a.shape[1]
    return same_rank, float(overlap), float(np.abs(score_a - score_b).max())


def mnist_features(names: tuple[str, ...]) -> np.ndarray:
    """Flattened, L2-normalised float32 pixels of the named MNIST archives, concatenated in order."""
    parts = []
    for name in names:
        with np.load(dataset_path(name)) as archive:
            parts.append(archive["images"].reshape(len(archive["images"]), -1).astype(np.float32))
    features = np.concatenate(parts)
    return features / np.linalg.norm(features, axis=1, keepdims=True)


def main() -> None:
    """Parse arguments, run every case in subprocesses, print and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, choices=(10_000, 70_000), default=[10_000, 70_000],
                        help="10000 = MNIST test, 70000 = MNIST train + test")
    parser.add_argument("--ks", nargs="+", type=int, default=[20, 100], help="neighbours per query")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per case; medians are reported")
    parser.add_argument("--full-limit", type=int, default=10_000,
                        help="largest N searched with all its queries; larger N use --sample-queries")
    parser.add_argument("--sample-queries", type=int, default=4096, help="queries timed when N > --full-limit")
    parser.add_argument("--graph-k", type=int, default=20, help="k of the knn_graph timing on 70,000 points (0: skip)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "knn_speed.md", help="markdown file to write")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    sources = {10_000: ("mnist_test",), 70_000: ("mnist_train", "mnist_test")}
    machine = markdown_table(("field", "value"), machine_rows())
    print(machine + "\n", flush=True)
    started = time.perf_counter()
    rows, graph_rows = [], []
    with tempfile.TemporaryDirectory(prefix="knn_speed_") as scratch:
        feature_files = {}
        for n in sorted(set(args.sizes) | ({70_000} if args.graph_k else set())):
            feature_files[n] = Path(scratch, f"features_{n}.npy")
            np.save(feature_files[n], mnist_features(sources[n]))
        for n in args.sizes:
            queries = n if n <= args.full_limit else min(args.sample_queries, n)
            for k in args.ks:
                seconds, memory, saved = {}, {}, {}
                for backend in BACKENDS:
                    saved[backend] = Path(scratch, f"result_{n}_{k}_{backend}.npz")
                    task = {"kind": "knn", "features": str(feature_files[n]), "queries": queries, "k": k,
                            "backend": backend, "save": str(saved[backend])}
                    seconds[backend], memory[backend] = measure(task, args.repeats)
                scale = n / queries
                label = "all" if queries == n else f"{queries} (times extrapolated x{scale:.2f})"
                same_rank, same_set, score_diff = agreement(saved["faiss"], saved["torch"])
                rows.append((n, k, label, f"{seconds['faiss'] * scale:.2f}", f"{seconds['torch'] * scale:.2f}",
                             f"{seconds['torch'] / seconds['faiss']:.2f}", f"{memory['faiss']:.0f}",
                             f"{memory['torch']:.0f}", f"{same_rank:.5f}", f"{same_set:.5f}", f"{score_diff:.2e}"))
                print(markdown_table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
        if args.graph_k:
            task = {"kind": "graph", "features": str(feature_files[70_000]), "queries": 70_000, "k": args.graph_k}
            seconds_graph, memory_graph = measure(task, args.repeats)
            graph_rows.append((70_000, args.graph_k, "gaussian (l2)", f"{seconds_graph:.2f}", f"{memory_graph:.0f}"))
    elapsed = time.perf_counter() - started

    sections = ["## Machine\n\n" + machine]
    table = markdown_table(HEADERS, rows)
    sections.append("## knn: FAISS against chunked exact torch (metric ip, 784-d, chunk_size 4096)\n\n" + table)
    if graph_rows:
        graph_table = markdown_table(("N", "k", "weight", "seconds (median)", "peak +MiB"), graph_rows)
        sections.append("## knn_graph (backend auto = FAISS, exclude_self)\n\n" + graph_table)
    sections.append(
        f"Medians over {args.repeats} fresh processes per case. Seconds = wall time of the single `knn` / "
        "`knn_graph` call (data already loaded); for sampled rows they are the sampled time scaled by "
        "N / queries (extrapolated, not measured). Peak +MiB = growth of peak resident memory during the call, "
        "measured on the queries timed. torch / faiss > 1 means FAISS is faster. Agreement compares the first "
        "run of each backend: differing indices with a score difference at float32 rounding level are ties or "
        f"near-ties. Whole benchmark: {elapsed:.0f} s. Machine load at the end: {machine_load()}.")
    print("\n" + "\n\n".join(sections[1:]))
    write_report(args.out, "Exact kNN speed: FAISS vs chunked torch on MNIST pixels", sections)


if __name__ == "__main__":
    main()
