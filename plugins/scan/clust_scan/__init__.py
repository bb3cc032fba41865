"""SCAN (Van Gansbeke et al., ECCV 2020) as a clust plugin: mined neighbours, the SCAN loss, self-labelling.

https://arxiv.org/abs/2005.12320. Written against core's plugin contract only: a neighbour view carries each
image's sampled mined neighbour, the heads build their backbone through the registry, the pretext stage is
SPICE's (cached, shared).
"""
from __future__ import annotations

import clust_core
from clust_core.components import AssignmentSpec, LossSpec, PseudoLabelerSpec, RepresentationSpec, Uses

from .heads import ScanHeads
from .losses import ScanLoss, SelfLabelLoss
from .mining import NeighbourMining
from .recipe import SPECS as RECIPES
from .selection import LowestLossHead

CLUST_HOOK_API = clust_core.HOOK_API_VERSION


def _head_outputs(params) -> frozenset[str]:
    return frozenset({"embedding", "logits", "probs"} if params["heads"] == 1 else
                     {"embedding", "head_logits", "head_probs"})


@clust_core.hookimpl
def clust_representations():
    """Linear heads over any backbone producing an embedding."""
    return [RepresentationSpec(name="heads", factory=ScanHeads, produces=_head_outputs,
                               uses={"backbone": Uses("representation", frozenset({"embedding"}))},
                               doc="SCAN's linear softmax heads over a registered backbone's embedding.")]


@clust_core.hookimpl
def clust_pseudo_labelers():
    """The mined neighbours."""
    return [PseudoLabelerSpec(name="neighbours", factory=NeighbourMining, needs=frozenset({"embedding"}),
                              produces=frozenset({"neighbours"}), scope="dataset",
                              doc="Each image's K + 1 nearest images by inner product of the embedding (§2.1).")]


@clust_core.hookimpl
def clust_losses():
    """The SCAN loss and the self-labelling loss."""
    return [LossSpec(name="scan", factory=ScanLoss, needs=lambda params: frozenset({params["output"]}), n_views=2,
                     doc="Eq. 2 on [anchor, neighbour]: -log<p(x), p(k)> + entropy weight x sum p̄ log p̄."),
            LossSpec(name="confident_ce", factory=SelfLabelLoss, needs=frozenset({"logits", "probs"}), n_views=2,
                     doc="§2.3 on [clean, strong]: class-balanced CE against predictions above 0.99.")]


@clust_core.hookimpl
def clust_assignments():
    """The lowest-loss head (ImageNet subsets)."""
    return [AssignmentSpec(name="lowest_loss_head", factory=LowestLossHead,
                           needs=frozenset({"head_probs", "embedding"}),
                           doc="The head of lowest SCAN loss over the data and its mined neighbours.")]


@clust_core.hookimpl
def clust_recipes():
    """``scan`` and ``scan-loss``."""
    return RECIPES
