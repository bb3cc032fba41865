"""Scale of JULE's agglomerative assignment (``jule.agglomerative``) against scikit-learn.

Features: MNIST (train + test, 70,000) pixels projected on their first 50 principal
components (real features, not random). For N = 1k, 10k, 70k (the first N images)
each method runs once in a fresh subprocess: wall time of the whole clustering
(kNN graph included) and the growth of the peak resident memory (VmHWM) over
the process's state after loading the features. scikit-learn: AgglomerativeClustering
(ward) with a K_s = 20 kNN connectivity graph. Same run, same machine.

    .venv/bin/python benchmarks/jule_scale.py [--sizes 1000 10000 70000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, dataset_path, machine_load, machine_rows, markdown_table  # noqa: E402

FEATURES = Path("/tmp/jule_scale_pca50.npz")


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prepare() -> None:
    if FEATURES.is_file():
        return
    parts = [np.load(dataset_path(n)) for n in ("mnist_test", "mnist_train")]
    x = np.concatenate([p["images"].reshape(len(p["images"]), -1) for p in parts]).astype(np.float32) / 255
    y = np.concatenate([p["labels"] for p in parts])
    mean = x[:10000].mean(0)
    _, _, vt = np.linalg.svd(x[:10000] - mean, full_matrices=False)
    np.savez(FEATURES, x=((x - mean) @ vt[:50].T).astype(np.float32), y=y)


def worker(method: str, n: int) -> None:
    import torch  # noqa: F401  (torch before faiss)
    from clust_core.metrics import evaluate
    data = np.load(FEATURES)
    x, y = data["x"][:n].copy(), data["y"][:n]
    base = vm_hwm_mb()
    start = time.perf_counter()
    if method == "jule":
        from clust_core.components import BuildContext
        from clust_jule.labels import MERGE_PARAMS, AgglomerativeAssignment
        model = AgglomerativeAssignment(BuildContext(shape=(1, 1, 50), k=10, n=n, dataset="pca"), **MERGE_PARAMS)
        labels = model.fit({"embedding": torch.from_numpy(x)}).labels
    else:
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.neighbors import kneighbors_graph
        graph = kneighbors_graph(x, 20, include_self=False)
        labels = AgglomerativeClustering(n_clusters=10, connectivity=graph).fit_predict(x)
    seconds = time.perf_counter() - start
    metrics = evaluate(y, labels)
    print(json.dumps({"seconds": seconds, "peak_mb": vm_hwm_mb() - base, "nmi": metrics["nmi"], "acc": metrics["acc"]}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 70000])
    parser.add_argument("--worker", nargs=2)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    prepare()
    rows = []
    for n in args.sizes:
        result = {}
        for method in ("jule", "sklearn"):
            out = subprocess.run([sys.executable, __file__, "--worker", method, str(n)], capture_output=True,
                                 text=True, check=True)
            result[method] = json.loads(out.stdout.strip().splitlines()[-1])
            print(n, method, result[method], flush=True)
        j, s = result["jule"], result["sklearn"]
        rows.append([n, f"{j['seconds']:.1f}", f"{j['peak_mb']:.0f}", f"{j['nmi']:.3f}", f"{s['seconds']:.1f}",
                     f"{s['peak_mb']:.0f}", f"{s['nmi']:.3f}", f"{j['seconds'] / s['seconds']:.2f}"])
    headers = ["N", "jule s", "jule peak MB", "jule NMI", "sklearn s", "sklearn peak MB", "sklearn NMI",
               "time ratio jule/sklearn"]
    text = "\n\n".join([
        "# JULE agglomerative assignment: scale",
        f"Command: `.venv/bin/python benchmarks/jule_scale.py --sizes {' '.join(map(str, args.sizes))}`",
        "Features: MNIST train+test pixels on 50 principal components; first N images; k = 10; one run per cell "
        "in a fresh subprocess. jule: `jule.agglomerative` (K_s 20, K_c 5, exact eq. 14 update, η 0.9 periods); "
        "sklearn: `AgglomerativeClustering(ward, connectivity=kneighbors_graph(K=20))`. Peak MB = VmHWM growth.",
        markdown_table(["field", "value"], machine_rows()),
        markdown_table(headers, rows),
        f"Machine load at end: {machine_load()}"])
    (RESULTS_DIR / "jule_scale.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
