"""SPICE's three stages under torchrun: two gloo processes gather MoCo keys, draw the labelled stream per
rank and write the stage cache once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

SHORT = ["pretrain.epochs=2", "cluster.epochs=2", "cluster.loop.params.repeats=1", "cluster.eval_every=0",
         "joint.epochs=1", "joint.eval_every=0", "report=false"]


def test_spice_trains_with_two_gloo_processes(tmp_path: Path) -> None:
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this interpreter")
    digits = load_digits()
    keep = np.isin(digits.target, [0, 1, 6])
    data = tmp_path / "three_digits.npz"
    np.savez(data, images=np.rint(digits.images[keep] * 255 / 16).astype(np.uint8), labels=digits.target[keep])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CLUST_CACHE_DIR": str(tmp_path / "cache")}
    sets = [arg for item in SHORT for arg in ("--set", item)]
    done = subprocess.run([str(torchrun), "--standalone", "--nnodes=1", "--nproc-per-node=2", "-m", "clust_core.cli",
                           "run", "--plugin", "spice", "--dataset", f"npz:{data}", "--out", str(tmp_path / "runs"),
                           "--device", "cpu", *sets], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    finals = {r["stage"]: r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
              if r.get("final")}
    assert list(finals) == ["pretrain", "cluster", "joint"]
    assert all(r["n"] == int(keep.sum()) for r in finals.values())
    assert finals["pretrain"]["acc"] > 0.5, finals  # k-means on the MoCo features; chance 1/3 (measured 0.70)
    assert len(list((tmp_path / "cache").glob("pretrain-*.pt"))) == 1
