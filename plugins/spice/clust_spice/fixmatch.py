"""SPICE-Semi's loss: FixMatch on the reliable labels (paper §III-C, eqs. 8-9).

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (``tools/train_semi.py``, ``fixmatch/models/fixmatch/rfixmatch_v1.py``).
SPICE keeps FixMatch's hyper-parameters (§IV-B): FixMatch, Sohn et al., NeurIPS 2020,
https://arxiv.org/abs/2001.07685.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext, Outputs, Supervision


class FixMatch(nn.Module):
    """Supervised CE on the labelled stream plus thresholded weak-to-strong pseudo-label CE on the rest.

    Views [weak, strong]. Rows with ``mask`` True are the labelled stream:
    CE(weak logits, labels), averaged over them. Rows with ``mask`` False are the
    unlabelled stream: hard pseudo-label = argmax softmax(weak logits) (no
    gradient), kept where its probability reaches ``threshold``; the term is the
    mean over all unlabelled rows of keep * CE(strong logits, pseudo-label).
    Total = supervised + ``unlabelled_weight`` * unlabelled.

    With ``double_softmax`` the scores are the network's softmax output
    (``probs``), as SPICE's clustering head trains (its last layer is a softmax
    and its cross-entropy is taken on that output, eq. 5 and appendix A): the
    threshold applies to the head's probability and the cross-entropy is the
    double softmax one, whose gradient stays bounded. Fine-tuning SPICE-Self's
    head on its raw logits instead diverges: stage 2 drives them to tens, and
    the first steps' gradients reach norm 40-60 in the backbone (measured on
    digits, README). Without it the scores are ``logits``: FixMatch as
    published, for a network trained from scratch (the released code).

    Args:
        ctx: Build context (unused).
        threshold: tau (FixMatch §4.1: 0.95; SPICE's ``tools/train_semi.py`` ``--p_cutoff``).
        unlabelled_weight: lambda_u (FixMatch §4.1: 1).
        double_softmax: Score with the head's softmax output (SPICE's head, eq. 5) instead of logits (False:
            from scratch, as the released code).
    """

    def __init__(self, ctx: BuildContext, threshold: float = 0.95, unlabelled_weight: float = 1.0,
                 double_softmax: bool = True) -> None:
        super().__init__()
        self.log = ctx.log
        self.threshold, self.unlabelled_weight, self.double_softmax = threshold, unlabelled_weight, double_softmax
        self._mask_rate = torch.tensor(float("nan"))

    @property
    def mask_rate(self) -> float:
        """Share of the last call's unlabelled rows whose pseudo-label reached the threshold (NaN if none)."""
        return float(self._mask_rate)

    def forward(self, outputs: list[Outputs], supervision: Supervision) -> Tensor:
        key = "probs" if self.double_softmax else "logits"
        weak, strong = outputs[0][key].float(), outputs[1][key].float()
        labelled = supervision.mask.to(weak.device).bool()
        unlabelled = (~labelled).float()
        labels = supervision.labels.to(weak.device).long().clamp_min(0)  # unlabelled rows may carry -1
        supervised = ((F.cross_entropy(weak, labels, reduction="none") * labelled).sum()
                      / labelled.sum().clamp_min(1))
        confidence, pseudo = (weak.detach() if self.double_softmax else weak.detach().softmax(dim=1)).max(dim=1)
        keep = (confidence >= self.threshold).float() * unlabelled
        self._mask_rate = keep.sum() / unlabelled.sum()
        self.log("mask_rate", self._mask_rate.detach())
        consistency = ((F.cross_entropy(strong, pseudo, reduction="none") * keep).sum()
                       / unlabelled.sum().clamp_min(1))
        return supervised + self.unlabelled_weight * consistency
