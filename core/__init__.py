"""clust: deep image clustering with published methods as plugins.

Plugin authors need :data:`hookimpl` and :data:`HOOK_API_VERSION` from here;
users want :class:`~clust_core.api.Clusterer`.
"""
from .errors import ClustError
from .hookspecs import HOOK_API_VERSION, hookimpl

__all__ = ["HOOK_API_VERSION", "ClustError", "Clusterer", "hookimpl"]


def __getattr__(name: str):
    if name == "Clusterer":  # imported lazily: it pulls in torch and the whole engine
        from .api import Clusterer
        return Clusterer
    raise AttributeError(name)
