"""Augmentation invariance of the category part: KL(z_c(x) || z_c(T(x))) (paper §3.2, eq. 7).

DCCS: Zhao et al., ECCV 2020, https://arxiv.org/abs/2007.10004; released code: https://github.com/sKamiJ/DCCS.
"""
from __future__ import annotations

from torch import Tensor, nn

from clust_core.components import BuildContext, LossSpec, Outputs, Supervision


def category_kl(logits_clean: Tensor, logits_aug: Tensor) -> Tensor:
    """(1/b) sum_i KL(z_c(x_i) || z_c(T(x_i))) (eq. 7), from z_c logits, gradient through both.

    DCCS's code does not detach the clean target (``train.py`` ``train_epoch``), nor does this.
    """
    log_clean, log_aug = logits_clean.float().log_softmax(dim=1), logits_aug.float().log_softmax(dim=1)
    return (log_clean.exp() * (log_clean - log_aug)).sum(dim=1).mean()


class AugmentationKL(nn.Module):
    """L_Aug on views [clean, augmented]; the slot's weight is beta_Aug (eq. 12)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        del ctx

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        return category_kl(outputs[0]["logits"], outputs[1]["logits"])


SPECS = [LossSpec(name="aug_kl", factory=AugmentationKL, needs=frozenset({"logits"}), n_views=2,
                  doc="KL(z_c(x) || z_c(T(x))) over views [clean, augmented], both with gradient (eq. 7).")]
