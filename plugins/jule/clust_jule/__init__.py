"""JULE (Yang et al., CVPR 2016) for clust: joint agglomerative clustering and CNN representation learning.

Components: ``jule.cnn`` (representation), ``jule.agglomerative`` (dataset-scope
labeler and assignment), ``jule.triplet`` (loss); recipe ``jule``. Paper:
https://arxiv.org/abs/1604.03628; released Torch code: https://github.com/jwyang/JULE.torch. Defaults and
their sources are in the factories' signatures (``jule.agglomerative`` takes ``**params``: its defaults are
:data:`.labels.MERGE_PARAMS`).
"""
from __future__ import annotations

import clust_core
from clust_core.components import AssignmentSpec, InputSpec, LossSpec, PseudoLabelerSpec, RepresentationSpec

from . import labels, network, recipe, schedule, triplet

CLUST_HOOK_API = clust_core.HOOK_API_VERSION


@clust_core.hookimpl
def clust_representations():
    """JULE's CNN (paper §4.1.2)."""
    return [RepresentationSpec(
        name="cnn", factory=network.JuleCNN, produces=frozenset({"embedding", "pixels"}),
        accepts=InputSpec(channels=(1, 3), min_size=5),
        doc="5x5 conv/BN/ReLU/pool blocks to ~10x10, Linear(160), L2 norm; also outputs raw pixels.")]


@clust_core.hookimpl
def clust_pseudo_labelers():
    """The recurrent agglomerative process (dataset scope)."""
    return [PseudoLabelerSpec(
        name="agglomerative", factory=labels.RecurrentLabels, needs=frozenset({"embedding", "pixels"}),
        produces=frozenset({"labels", "mask"}), scope="dataset", params=dict(labels.MERGE_PARAMS),
        doc="1-NN chain clusters on raw pixels, then one GDL merging period per refresh down to k.")]


@clust_core.hookimpl
def clust_losses():
    """The weighted triplet loss (paper eqs. 10-11) or the Torch hinge variant."""
    return [LossSpec(
        name="triplet", factory=triplet.TripletLoss, needs=frozenset({"embedding"}),
        needs_supervision=frozenset({"labels"}),
        doc="Weighted triplet loss on in-batch cluster labels.")]


@clust_core.hookimpl
def clust_assignments():
    """Agglomerative re-clustering from scratch (OURS-RC), usable on any embedding."""
    return [AssignmentSpec(
        name="agglomerative", factory=labels.AgglomerativeAssignment, needs=frozenset({"embedding"}),
        params={k: v for k, v in labels.MERGE_PARAMS.items()},
        doc="GDL agglomerative clustering (1-NN chain init, eq. 7 criterion) down to k.")]


@clust_core.hookimpl
def clust_recipes():
    """The ``jule`` method."""
    return recipe.SPECS


@clust_core.hookimpl
def clust_schedules():
    """Caffe's "inv" learning-rate policy (§4.1.2)."""
    return schedule.SCHEDULES
