"""Losses every method can use."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..components import BuildContext, LossSpec, Outputs, Supervision


class PseudoLabelCrossEntropy(nn.Module):
    """Cross-entropy of the logits against pseudo-labels, averaged over the samples the mask keeps."""

    def __init__(self, ctx: BuildContext, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, outputs: list[Outputs], supervision: Supervision) -> Tensor:
        per_sample = F.cross_entropy(outputs[0]["logits"].float(), supervision.labels,
                                     label_smoothing=self.label_smoothing, reduction="none")
        if supervision.mask is None:
            return per_sample.mean()
        mask = supervision.mask.float()
        return (per_sample * mask).sum() / mask.sum().clamp(min=1.0)


SPECS = [
    LossSpec(name="cross_entropy", factory=PseudoLabelCrossEntropy, needs=frozenset({"logits"}),
             needs_supervision=frozenset({"labels"}),
             doc="Masked cross-entropy on pseudo-labels."),
]
