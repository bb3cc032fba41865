"""Pseudo-labelers every method can use."""
from __future__ import annotations

import torch
import torch.nn.functional as F


from ..components import BuildContext, Outputs, PseudoLabelerSpec, Supervision
from ..kmeans import kmeans


class KMeansLabels:
    """Dataset scope: k-means on the embedding of every image gives each its label (DeepCluster-style)."""

    def __init__(self, ctx: BuildContext, n_iter: int = 20, n_redo: int = 1, l2_normalize: bool = True) -> None:
        self.k, self.seed = ctx.k, ctx.seed
        self.n_iter, self.n_redo, self.l2_normalize = n_iter, n_redo, l2_normalize

    def __call__(self, outputs: Outputs) -> Supervision:
        features = outputs["embedding"].float()
        if self.l2_normalize:
            features = F.normalize(features, dim=1)
        result = kmeans(features, self.k, n_iter=self.n_iter, n_redo=self.n_redo, seed=self.seed)
        labels = torch.from_numpy(result.labels)
        return Supervision(labels=labels, mask=torch.ones_like(labels, dtype=torch.bool))


class ConfidentLabels:
    """Batch scope: argmax of the prediction, kept where its probability reaches ``threshold``."""

    def __init__(self, ctx: BuildContext, threshold: float = 0.9) -> None:
        self.threshold = threshold

    def __call__(self, outputs: Outputs) -> Supervision:
        confidence, labels = outputs["probs"].float().max(dim=1)
        return Supervision(labels=labels, mask=confidence >= self.threshold)


SPECS = [
    PseudoLabelerSpec(name="kmeans", factory=KMeansLabels, needs=frozenset({"embedding"}),
                      produces=frozenset({"labels", "mask"}), scope="dataset",
                      doc="k-means cluster of each image's embedding, over the whole dataset."),
    PseudoLabelerSpec(name="confident", factory=ConfidentLabels, needs=frozenset({"probs"}),
                      produces=frozenset({"labels", "mask"}), scope="batch",
                      doc="Argmax label where the prediction is confident."),
]


