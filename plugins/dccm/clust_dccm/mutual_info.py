"""Triplet mutual information (paper §3.4, eqs. 13-14) with DIM's local discriminator (paper §4).

DCCM: Wu et al., ICCV 2019, https://arxiv.org/abs/1904.06925 (with its supplementary material); released
code: https://github.com/Cory-M/DCCM (discriminator ``models/dim_Model.py``, pairs ``utils/sampling.py``).
"""
from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext, Outputs, Supervision

from .networks import layout_for, tap_dims


def jsd_mi(joint: Tensor, marginal: Tensor) -> Tensor:
    """JSD estimate of MI (eq. 13): E_J[-sp(-T)] - E_M[sp(T)], each mean over pairs and positions."""
    return (-F.softplus(-joint)).mean() - F.softplus(marginal).mean()


@attrs.frozen
class Pairs:
    """Index pairs (deep of ``anchor``, shallow of ``other``) of one mini-batch."""

    joint_anchor: Tensor
    joint_other: Tensor
    marginal_anchor: Tensor
    marginal_other: Tensor


def sample_pairs(graph: Tensor, negatives: int = 2, similarity: Tensor | None = None) -> Pairs:
    """Pairs for eq. 14 from the pseudo-graph W (supplement §6, Table 3, V1; released code ``get_pair``).

    Joint pairs: every (i, i), plus (i, pos(i)) for each anchor with a W = 1
    neighbour j != i: uniformly drawn, or the most similar one when
    ``similarity`` is given. Anchors with no such neighbour get no positive (the
    released code picks an arbitrary sample, and its index is off by one).
    Marginal pairs: up to ``negatives`` distinct j with W_ij = 0, drawn
    uniformly (the code takes the first ones of a shuffled batch).

    Args:
        graph: B x B pseudo-graph (bool or 0/1).
        negatives: Negatives per anchor (code: 2).
        similarity: Optional B x B scores to pick the nearest positive.
    """
    w = graph.bool()
    b = w.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=w.device)
    positive = w & ~eye
    scores = torch.rand(b, b, device=w.device) if similarity is None else similarity.float()
    best = scores.masked_fill(~positive, float("-inf")).argmax(dim=1)
    has = positive.any(dim=1)
    anchors = torch.arange(b, device=w.device)
    joint_anchor = torch.cat([anchors, anchors[has]])
    joint_other = torch.cat([anchors, best[has]])
    k = min(negatives, b)
    noise = torch.rand(b, b, device=w.device).masked_fill(w | eye, float("-inf"))
    value, chosen = noise.topk(k, dim=1)
    valid = torch.isfinite(value)
    return Pairs(joint_anchor, joint_other, anchors[:, None].expand(b, k)[valid], chosen[valid])


class LocalDiscriminator(nn.Module):
    """DIM's local discriminator T: three 1x1 convs on [shallow map, deep vector tiled] (paper §4; code
    ``models/dim_Model.py``).

    The first conv's input is a concatenation, so it is computed as
    W_s * map + W_d * vector, each once per sample, then summed per pair.

    Args:
        shallow_channels: Channels of the shallow map.
        deep_dim: Width of the deep vector.
        hidden: Width of the hidden 1x1 convs (DIM / code: 512).
    """

    def __init__(self, shallow_channels: int, deep_dim: int, hidden: int = 512) -> None:
        super().__init__()
        self.first = nn.Conv2d(shallow_channels + deep_dim, hidden, 1, bias=False)
        self.rest = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 1, bias=False), nn.ReLU(),
                                  nn.Conv2d(hidden, 1, 1, bias=False))
        self.shallow_channels = shallow_channels

    def forward(self, shallow: Tensor, deep: Tensor, anchor: Tensor, other: Tensor) -> Tensor:
        """Scores T(deep[anchor], shallow[other]): P x 1 x H x W."""
        w_s, w_d = self.first.weight[:, :self.shallow_channels], self.first.weight[:, self.shallow_channels:]
        maps = F.conv2d(shallow, w_s)
        vectors = F.conv2d(deep[:, :, None, None], w_d)
        return self.rest(maps[other] + vectors[anchor])


class TripletMI(nn.Module):
    """L_MI = -MI_set^(JSD)(D, S) (eq. 14) over pairs drawn from the pseudo-graph.

    The discriminator is trained with the network to maximise the same
    estimate (DIM), so it is a parameter of this loss, optimised with the
    network (code: one RMSprop over both).

    Args:
        ctx: Build context: input shape and K fix the taps' sizes.
        layout: Network the taps come from (``auto``: as the recipe picks by image size); must match the
            network's.
        taps: ``paper`` or ``code`` (must match the network's ``taps``).
        hidden: Discriminator width (DIM's local discriminator, released code ``models/dim_Model.py``: 512).
        negatives: Negatives per anchor (released code ``utils/sampling.py``: 2).
        positive: ``random`` (a uniform W = 1 neighbour: what the "nearest" positive of supplement
            Table 3, V1, is in the released code, without its index bug) or ``nearest`` (the W = 1
            neighbour whose prediction in this view is the most similar).
    """

    def __init__(self, ctx: BuildContext, layout: str = "auto", taps: str = "paper", hidden: int = 512,
                 negatives: int = 2, positive: str = "random") -> None:
        super().__init__()
        if positive not in ("random", "nearest"):
            raise ValueError(f"positive must be 'random' or 'nearest', got {positive!r}")
        channels, width = tap_dims(ctx, layout_for(ctx.shape) if layout == "auto" else layout, taps)
        self.discriminator = LocalDiscriminator(channels, width, hidden)
        self.negatives, self.positive = negatives, positive

    def forward(self, outputs: list[Outputs], supervision: Supervision) -> Tensor:
        out = outputs[0]
        similarity = None
        if self.positive == "nearest":
            z = F.normalize(out["probs"].detach().float(), dim=1)
            similarity = z @ z.T
        pairs = sample_pairs(supervision.pairs, self.negatives, similarity)
        shallow, deep = out["shallow"].float(), out["deep"].float()
        joint = self.discriminator(shallow, deep, pairs.joint_anchor, pairs.joint_other)
        marginal = self.discriminator(shallow, deep, pairs.marginal_anchor, pairs.marginal_other)
        if marginal.numel() == 0:
            return -(-F.softplus(-joint)).mean()
        return -jsd_mi(joint, marginal)
