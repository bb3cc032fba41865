"""SPICE's double-softmax cross-entropy, SPICE-Self's M-step loss (paper §III-B, eq. 5, appendix A).

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (``spice/model/heads/sem_head.py``: ``CrossEntropyLoss`` on the head's
softmax output).
"""
from __future__ import annotations

from torch import Tensor, nn

from clust_core.components import BuildContext, Outputs, Supervision


def double_softmax_ce_per_head(head_probs: Tensor, targets: Tensor) -> Tensor:
    """Each head's mean over its labelled pairs (i, c) of -log softmax(p_i)[c] (eq. 5).

    The softmax is applied on top of the head's softmax output, as the code's
    ``nn.CrossEntropyLoss(softmax_output, label)``: appendix A shows it slows the
    learning of low probabilities relative to plain CE on the logits.

    Args:
        head_probs: (B, H, K) softmax outputs of the H heads.
        targets: (B, H, K) multi-hot pseudo-labels, or (B, K) shared by every head;
            every non-zero entry is one labelled pair.

    Returns:
        (H,) losses; a head without labelled pairs gets 0.
    """
    pairs = (targets > 0).to(head_probs.device)
    if pairs.ndim == 2:
        pairs = pairs[:, None, :].expand_as(head_probs)
    nll = -head_probs.float().log_softmax(dim=-1)
    total = (nll * pairs).sum(dim=(0, 2))
    return total / pairs.sum(dim=(0, 2)).clamp_min(1)


class DoubleSoftmaxCE(nn.Module):
    """Mean over heads of :func:`double_softmax_ce_per_head` on the view it reads (the strong view).

    Args:
        ctx: Build context (unused).
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        del ctx

    def forward(self, outputs: list[Outputs], supervision: Supervision) -> Tensor:
        return double_softmax_ce_per_head(outputs[0]["head_probs"], supervision.targets).mean()
