"""DDP on the CPU: two gloo processes under torchrun assign like one process."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

TRAINED_PIPELINE = [
    "--set", "cluster.representation=core.convnet",
    "--set", "cluster.representation.params.batchnorm=false",
    "--set", "cluster.representation.params.width=16",
    "--set", "cluster.labelers.labels=core.kmeans",
    "--set", "cluster.losses.ce=core.cross_entropy",
    "--set", "cluster.losses.ce.supervision=\"labels\"",
    "--set", "cluster.epochs=2",
    "--set", "cluster.batch_size=64",
    "--set", "cluster.optimizer.name=\"sgd\"",
    "--set", "cluster.optimizer.lr=0.05",
    "--set", "report=false",
    "--device", "cpu",
]


@pytest.fixture(scope="module")
def three_digits(tmp_path_factory) -> Path:
    """A tiny, well-separated problem (digits 0, 1 and 6) so that float rounding moves no image."""
    digits = load_digits()
    keep = np.isin(digits.target, [0, 1, 6])
    path = tmp_path_factory.mktemp("data") / "three_digits.npz"
    np.savez(path, images=np.rint(digits.images[keep] * 255 / 16).astype(np.uint8), labels=digits.target[keep])
    return path


def _clusters(run_dir: Path) -> list[int]:
    with open(run_dir / "assignments.csv", newline="") as handle:
        return [int(row["cluster"]) for row in csv.DictReader(handle)]


def _run(command: list[str], data: Path, out: Path) -> Path:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as torchrun sets per worker: the same float reductions
    done = subprocess.run([*command, "run", "--plugin", "kmeans", "--dataset", f"npz:{data}", "--out", str(out),
                           *TRAINED_PIPELINE], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = out.iterdir()
    return run_dir


def test_two_gloo_processes_give_the_same_assignments_as_one(three_digits: Path, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    torchrun = bin_dir / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this interpreter")
    single = _run([str(bin_dir / "clust")], three_digits, tmp_path / "single")
    double = _run([str(torchrun), "--standalone", "--nnodes=1", "--nproc-per-node=2", "-m", "clust_core.cli"],
                  three_digits, tmp_path / "ddp")
    assert _clusters(double) == _clusters(single)
    assert len(set(_clusters(single))) == 3
