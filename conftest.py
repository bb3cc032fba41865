"""Settings for every test under this repository (core's tests/ and each plugins/<name>/tests/)."""
import os

# clust_core sets this too, but test modules import torch before clust_core and OpenMP reads it once,
# at load: spinning idle OpenMP threads slow per-sample augmentation on a 2-core machine ~10x.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
