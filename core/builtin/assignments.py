"""Assignments every method can use: argmax of a head, k-means on an embedding."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..components import Assignment, AssignmentSpec, BuildContext, Outputs
from ..kmeans import kmeans
from ..neighbors import knn


class ArgmaxAssignment:
    """Cluster = argmax of the softmax prediction; confidence = its probability."""

    def __init__(self, ctx: BuildContext) -> None:
        del ctx

    def fit(self, outputs: Outputs) -> Assignment:
        return self.predict(outputs)

    def predict(self, outputs: Outputs) -> Assignment:
        confidence, labels = outputs["probs"].float().max(dim=1)
        return Assignment(labels.numpy().astype(np.int64), confidence.numpy())

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        del state


class KMeansAssignment:
    """k-means (FAISS) on the embedding; confidence = 1 − d₁/d₂, the margin between the
    nearest and second-nearest centroid distances."""

    def __init__(self, ctx: BuildContext, n_iter: int = 100, n_redo: int = 10, l2_normalize: bool = False) -> None:
        self.k, self.seed = ctx.k, ctx.seed
        self.n_iter, self.n_redo, self.l2_normalize = n_iter, n_redo, l2_normalize
        self.centroids: np.ndarray | None = None

    def _features(self, outputs: Outputs) -> np.ndarray:
        features = outputs["embedding"].float()
        return (F.normalize(features, dim=1) if self.l2_normalize else features).numpy()

    def fit(self, outputs: Outputs) -> Assignment:
        self.centroids = kmeans(self._features(outputs), self.k, n_iter=self.n_iter, n_redo=self.n_redo,
                                seed=self.seed).centroids
        return self.predict(outputs)

    def predict(self, outputs: Outputs) -> Assignment:
        if self.centroids is None:
            raise RuntimeError("KMeansAssignment.predict called before fit")
        distances, nearest = knn(self._features(outputs), self.centroids, min(2, self.k), "l2")
        if self.k == 1:
            return Assignment(nearest[:, 0], np.ones(len(nearest), dtype=np.float32))
        confidence = 1.0 - np.sqrt(distances[:, 0]) / np.maximum(np.sqrt(distances[:, 1]), 1e-12)
        return Assignment(nearest[:, 0].astype(np.int64), confidence.astype(np.float32))

    def state_dict(self) -> dict[str, Any]:
        return {} if self.centroids is None else {"centroids": torch.from_numpy(self.centroids)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.centroids = state["centroids"].numpy() if "centroids" in state else None


SPECS = [
    AssignmentSpec(name="argmax", factory=ArgmaxAssignment, needs=frozenset({"probs"}),
                   doc="Argmax of the softmax prediction."),
    AssignmentSpec(name="kmeans", factory=KMeansAssignment, needs=frozenset({"embedding"}),
                   doc="k-means on the embedding (FAISS; GPU when available)."),
]
