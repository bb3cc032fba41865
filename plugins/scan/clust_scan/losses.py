"""SCAN's two objectives: the SCAN loss (§2.2, eq. 2) and the confidence-based self-labelling loss (§2.3).

Van Gansbeke, Vandenhende, Georgoulis, Proesmans, Van Gool, "SCAN: Learning to Classify Images without
Labels", ECCV 2020, https://arxiv.org/abs/2005.12320; released code https://github.com/wvangansbeke/
Unsupervised-Classification (``losses/losses.py``: SCANLoss, ConfidenceBasedCE).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext, Outputs, Supervision

EPS = 1e-8
"""Floor of the probabilities inside the entropy's logarithm (the code's EPS)."""


def entropy(probs: Tensor) -> Tensor:
    """H(p) = −Σ_c p_c log p_c over the last axis, with p floored at :data:`EPS` inside the log."""
    return -(probs * probs.clamp_min(EPS).log()).sum(dim=-1)


def pair_consistency(anchors: Tensor, neighbours: Tensor) -> Tensor:
    """−log⟨Φ(x), Φ(k)⟩ of each pair over the last axis: the code's BCE of the inner product against 1, whose
    log is floored at −100 as BCE floors it."""
    return -(anchors * neighbours).sum(dim=-1).log().clamp_min(-100.0)


def scan_loss(anchors: Tensor, neighbours: Tensor, entropy_weight: float) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. 2: −(1/|B|) Σ_x log⟨Φ(x), Φ(k)⟩ + λ Σ_c Φ̄_c log Φ̄_c, with Φ̄ the mean of the anchors' predictions.

    Args:
        anchors: (..., B, K) probabilities of the anchors (leading axes: heads).
        neighbours: Probabilities of one sampled neighbour of each anchor, same shape.
        entropy_weight: λ (§3.1 and every released config: 5.0).

    Returns:
        (total, consistency, entropy of Φ̄), each with the leading axes (one value per head).
    """
    consistency = pair_consistency(anchors, neighbours).mean(dim=-1)
    spread = entropy(anchors.mean(dim=-2))
    return consistency - entropy_weight * spread, consistency, spread


class ScanLoss(nn.Module):
    """The SCAN loss on [anchor view, neighbour view] (eq. 2); with several heads, the sum of the heads' losses.

    Both views pass through the network with gradient (the code). Logs ``consistency`` and ``entropy``
    (mean over heads).

    Args:
        ctx: Build context.
        entropy_weight: λ (§3.1 and every released config: 5.0; the code's class default is 2.0).
        output: ``probs`` (one head, B x K) or ``head_probs`` (several heads, B x H x K).
    """

    def __init__(self, ctx: BuildContext, entropy_weight: float = 5.0, output: str = "probs") -> None:
        super().__init__()
        if output not in ("probs", "head_probs"):
            raise ValueError(f"output must be 'probs' or 'head_probs', got {output!r}")
        self.entropy_weight, self.output, self.log = entropy_weight, output, ctx.log

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        anchors, neighbours = (view[self.output].float() for view in outputs)
        if self.output == "head_probs":  # B x H x K -> H x B x K
            anchors, neighbours = anchors.transpose(0, 1), neighbours.transpose(0, 1)
        total, consistency, spread = scan_loss(anchors, neighbours, self.entropy_weight)
        self.log("consistency", consistency.mean())
        self.log("entropy", spread.mean())
        return total.sum()


def confidence_ce(weak_logits: Tensor, strong_logits: Tensor, threshold: float, balance: bool) -> tuple[Tensor, Tensor]:
    """§2.3: cross-entropy of the strong view against the weak view's argmax where its probability > threshold.

    With ``balance``, each target class c weighs n / n_c among the confident samples (the code's
    ``apply_class_balancing``), and the mean is the weighted mean (``nn.CrossEntropyLoss(weight=...)``).

    Returns:
        (loss, share of confident samples); the loss is 0 (with gradient) when none is confident.
    """
    probs = weak_logits.detach().float().softmax(dim=1)
    confidence, target = probs.max(dim=1)
    mask = confidence > threshold
    if not mask.any():
        return strong_logits.sum() * 0.0, mask.float().mean()
    target = target[mask]
    weight = None
    if balance:
        classes, counts = torch.unique(target, return_counts=True)
        weight = torch.ones(weak_logits.shape[1], device=weak_logits.device)
        weight[classes] = len(target) / counts.float()
    return F.cross_entropy(strong_logits[mask].float(), target, weight=weight), mask.float().mean()


class SelfLabelLoss(nn.Module):
    """SCAN's self-labelling loss on [clean view, strong view] (§2.3; code ConfidenceBasedCE). Logs ``confident``,
    the share of the batch above the threshold.

    Args:
        ctx: Build context.
        threshold: Confidence a prediction must exceed to become a target (§3.1 and configs: 0.99).
        balance: Class-balanced weights 1/frequency of each target class (every released config: True).
    """

    def __init__(self, ctx: BuildContext, threshold: float = 0.99, balance: bool = True) -> None:
        super().__init__()
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        self.threshold, self.balance, self.log = threshold, balance, ctx.log

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        loss, confident = confidence_ce(outputs[0]["logits"], outputs[1]["logits"], self.threshold, self.balance)
        self.log("confident", confident)
        return loss
