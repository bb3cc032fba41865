"""Mutual-information maximisation between X and Z with a JSD discriminator (paper §3.1, eqs. 4-6; Table 10).

DCCS: Zhao et al., ECCV 2020, https://arxiv.org/abs/2007.10004; released code: https://github.com/sKamiJ/DCCS
(``train.py`` ``train_epoch``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext, LossSpec, Outputs, Supervision
from clust_core.errors import ClustError

from .encoders import act_dim
from .layers import mlp


def jsd_mi_loss(positive: Tensor, negative: Tensor, mean_over_pairs: bool = False) -> Tensor:
    """L_MI = -(E_pos log S(D) + E_neg log(1 - S(D))) (eq. 6), from discriminator logits.

    Args:
        positive: D's logits for matched pairs (x_i, z_i).
        negative: D's logits for mismatched pairs (x_i, z_j).
        mean_over_pairs: DCCS's code takes one BCE mean over all 2b pairs,
            which is half of eq. 6; the paper's sum of the two means is the default.
    """
    loss = (F.binary_cross_entropy_with_logits(positive, torch.ones_like(positive))
            + F.binary_cross_entropy_with_logits(negative, torch.zeros_like(negative)))
    return loss / 2 if mean_over_pairs else loss


class MutualInfoLoss(nn.Module):
    """beta_MI * L_MI with D(cat[act, z]) (Table 10); negatives pair each act with z of a random permutation.

    D is a plain submodule, so it joins the encoder's optimiser: Q and D both
    minimise L_MI (eqs. 12-13). ``act`` is not detached (as in the code's ``train.py``).

    Args:
        ctx: Build context (input shape, K).
        arch: The encoder's body, which fixes |act| (Tables 6-8, 10); must match the encoder's.
        dim_zs: Dimension of z_s (§4.1.3: 50); must match the encoder's.
        slope: LeakyReLU slope of D (appendix A: 0.2).
        mean_over_pairs: True: the code's one BCE mean over the 2b pairs, i.e. eq. 6 / 2.
    """

    def __init__(self, ctx: BuildContext, arch: str = "auto", dim_zs: int = 50, slope: float = 0.2,
                 mean_over_pairs: bool = False) -> None:
        super().__init__()
        self.act_dim = act_dim(arch, min(ctx.shape[1:]))
        self.discriminator = mlp((self.act_dim + dim_zs + ctx.k, 1024, 512, 1), slope)
        self.mean_over_pairs = mean_over_pairs

    def scores(self, act: Tensor, z: Tensor) -> Tensor:
        """D's logits for the pairs (act_i, z_i), shape (b,)."""
        if act.shape[1] != self.act_dim:
            raise ClustError(f"dccs.mi expects a {self.act_dim}-d encoder map, got {act.shape[1]}: "
                             "give the loss the same 'arch' as the encoder")
        return self.discriminator(torch.cat([act, z], dim=1)).squeeze(1)

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        act, z = outputs[0]["act"].float(), outputs[0]["z"].float()
        shuffled = z[torch.randperm(len(z), device=z.device)]  # self-pairs possible, as in DCCS's train.py
        return jsd_mi_loss(self.scores(act, z), self.scores(act, shuffled), self.mean_over_pairs)


SPECS = [LossSpec(
    name="mi", factory=MutualInfoLoss, needs=frozenset({"act", "z"}),
    doc="JSD mutual information between image features and z (eq. 6), discriminator trained with the encoder.")]
