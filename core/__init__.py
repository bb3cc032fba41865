"""clust: deep image clustering with published methods as plugins.

Plugin authors need :data:`hookimpl` and :data:`HOOK_API_VERSION` from here;
users want :class:`~clust_core.api.Clusterer`.
"""
import os

# Idle OpenMP threads that spin take the CPU from the Python thread running per-sample augmentations:
# on a 2-core machine training steps ran ~10x slower. Must be set before torch is imported; an explicit
# setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import ClustError  # noqa: E402
from .hookspecs import HOOK_API_VERSION, hookimpl  # noqa: E402

__all__ = ["HOOK_API_VERSION", "ClustError", "Clusterer", "hookimpl"]


def __getattr__(name: str):
    if name == "Clusterer":  # imported lazily: it pulls in torch and the whole engine
        from .api import Clusterer
        return Clusterer
    raise AttributeError(name)
