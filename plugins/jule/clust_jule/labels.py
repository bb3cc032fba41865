"""Dataset-scope pseudo-labeler and assignment built on the agglomerative process.

JULE: Yang, Parikh, Batra, CVPR 2016, https://arxiv.org/abs/1604.03628 (Table 2 and appendix A give the
defaults below); released Torch code: https://github.com/jwyang/JULE.torch.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from clust_core.components import Assignment, BuildContext, Outputs, Supervision
from clust_core.neighbors import knn

from .graph import chain_init, knn_distances, l2_normalize
from .process import merge_period, recluster

MERGE_PARAMS = {
    "k_s": 20,            # paper Table 2 / eq. 4: neighbours per sample
    "a": 1.0,             # paper Table 2: sigma² = a · mean kNN squared distance
    "k_c": 5,             # paper Table 2 / eq. 7: neighbour clusters
    "lam": 1.0,           # paper Table 2: λ of eq. 7
    "eta": 0.9,           # paper Table 2: unrolling rate (0.9 digits/objects, 0.2 faces)
    "update": "exact",    # appendix A.1 eq. 14 (paper); "fast" = eq. 21 (Torch -use_fast 1)
    "alpha": 0.0,         # appendix A.2 eq. 21, used by update="fast" (paper's valid range [-0.2, 0.1])
    "isolated_factor": 20.0,  # Torch affinity.lua: isolated clusters join nearest mean while n_c > 20·n_c*
}


class RecurrentLabels:
    """The recurrent agglomerative process as a dataset-scope labeler (paper §3.4-3.6, Alg. 1).

    First call: the 1-NN chain clusters of the raw pixels (output ``pixels``), no merging
    (paper §3.6, period 0). Every later call is one period's forward pass on the current
    ``embedding``: rebuild W, merge n_p clusters, stop at n_c* = ``ctx.k``. The current
    clusters are the state (:meth:`state_dict`), so a resumed run continues the process.
    Logs ``clusters``, the number of clusters after each call (one value per period).
    """

    def __init__(self, ctx: BuildContext, **params: Any) -> None:
        self.target, self.log = ctx.k, ctx.log
        self.params = params
        self.labels: np.ndarray | None = None
        self.periods = 0

    def __call__(self, outputs: Outputs) -> Supervision:
        if self.labels is None:
            pixels = l2_normalize(outputs["pixels"].float().numpy())
            self.labels = chain_init(knn_distances(pixels, int(self.params["k_s"])))
        else:
            self.labels = merge_period(outputs["embedding"].float().numpy(), self.labels, self.target,
                                       **self.params)
            self.periods += 1
        labels = torch.from_numpy(self.labels)
        self.log("clusters", self.n_clusters)
        return Supervision(labels=labels, mask=torch.ones(len(labels), dtype=torch.bool))

    @property
    def n_clusters(self) -> int:
        """Current number of clusters (0 before the first call)."""
        return 0 if self.labels is None else int(self.labels.max()) + 1

    def state_dict(self) -> dict[str, Any]:
        return {"periods": self.periods,
                **({} if self.labels is None else {"labels": torch.from_numpy(self.labels)})}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.periods = int(state["periods"])
        self.labels = state["labels"].numpy().astype(np.int64) if "labels" in state else None


class AgglomerativeAssignment:
    """Agglomerative clustering of any ``embedding`` from scratch (the paper's OURS-RC).

    :meth:`predict` gives a new point the cluster of its nearest fitted point; the
    confidence is the share of its K_s fitted neighbours in that cluster. :meth:`fit`
    returns the same for the fitted points (each its own nearest point) from the kNN
    graph the clustering already built, instead of a second search.
    """

    def __init__(self, ctx: BuildContext, **params: Any) -> None:
        self.target = ctx.k
        self.params = params
        self.features: np.ndarray | None = None
        self.labels: np.ndarray | None = None

    def fit(self, outputs: Outputs) -> Assignment:
        self.features = l2_normalize(outputs["embedding"].float().numpy())
        n, k_s = len(self.features), int(self.params["k_s"])
        graph = knn_distances(self.features, k_s) if n > 1 else None
        self.labels = recluster(self.features, self.target, distances=graph, **self.params)
        if graph is None:
            return self.predict(outputs)
        width = min(k_s, n)
        nearest = np.lexsort((graph.indices.reshape(n, -1), graph.data.reshape(n, -1)), axis=1)[:, :width - 1]
        others = np.take_along_axis(graph.indices.reshape(n, -1), nearest, axis=1)
        return _votes(self.labels, np.concatenate([np.arange(n)[:, None], others], axis=1))

    def predict(self, outputs: Outputs) -> Assignment:
        if self.features is None or self.labels is None:
            raise RuntimeError("AgglomerativeAssignment.predict called before fit")
        queries = l2_normalize(outputs["embedding"].float().numpy())
        width = min(int(self.params["k_s"]), len(self.features))
        _, neighbours = knn(queries, self.features, width, "l2")
        return _votes(self.labels, neighbours)

    def state_dict(self) -> dict[str, Any]:
        if self.features is None or self.labels is None:
            return {}
        return {"features": torch.from_numpy(self.features), "labels": torch.from_numpy(self.labels)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.features = state["features"].numpy() if "features" in state else None
        self.labels = state["labels"].numpy().astype(np.int64) if "labels" in state else None


def _votes(labels: np.ndarray, neighbours: np.ndarray) -> Assignment:
    """Each row's cluster is that of its first neighbour; confidence = share of its neighbours in that cluster."""
    votes = labels[neighbours]
    confidence = (votes == votes[:, :1]).mean(axis=1).astype(np.float32)
    return Assignment(votes[:, 0].astype(np.int64), confidence)
