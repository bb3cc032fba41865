"""Dataset-scope pseudo-labeler and assignment built on the agglomerative process."""
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
    (spec §3, period 0). Every later call is one period's forward pass on the current
    ``embedding``: rebuild W, merge n_p clusters, stop at n_c* = ``ctx.k``. The current
    clusters are the state (:meth:`state_dict`), so a resumed run continues the process.
    """

    def __init__(self, ctx: BuildContext, **params: Any) -> None:
        self.target = ctx.k
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
    confidence is the share of its K_s fitted neighbours in that cluster.
    """

    def __init__(self, ctx: BuildContext, **params: Any) -> None:
        self.target = ctx.k
        self.params = params
        self.features: np.ndarray | None = None
        self.labels: np.ndarray | None = None

    def fit(self, outputs: Outputs) -> Assignment:
        self.features = l2_normalize(outputs["embedding"].float().numpy())
        self.labels = recluster(self.features, self.target, **self.params)
        return self.predict(outputs)

    def predict(self, outputs: Outputs) -> Assignment:
        if self.features is None or self.labels is None:
            raise RuntimeError("AgglomerativeAssignment.predict called before fit")
        queries = l2_normalize(outputs["embedding"].float().numpy())
        width = min(int(self.params["k_s"]), len(self.features))
        _, neighbours = knn(queries, self.features, width, "l2")
        votes = self.labels[neighbours]
        labels = votes[:, 0]
        confidence = (votes == labels[:, None]).mean(axis=1).astype(np.float32)
        return Assignment(labels.astype(np.int64), confidence)

    def state_dict(self) -> dict[str, Any]:
        if self.features is None or self.labels is None:
            return {}
        return {"features": torch.from_numpy(self.features), "labels": torch.from_numpy(self.labels)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.features = state["features"].numpy() if "features" in state else None
        self.labels = state["labels"].numpy().astype(np.int64) if "labels" in state else None
