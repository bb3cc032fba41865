"""SPICE (Niu, Shan, Wang; IEEE TIP 2022) as a clust plugin: MoCo v2, prototype pseudo-labels, reliable labels."""
from __future__ import annotations

import clust_core

from .recipe import SPECS as RECIPES
from .schedule import SCHEDULES
from .specs import ASSIGNMENTS, LABELERS, LOOPS, LOSSES, REPRESENTATIONS

CLUST_HOOK_API = clust_core.HOOK_API_VERSION


@clust_core.hookimpl
def clust_representations():
    """MoCo v2 encoders, frozen backbone + clustering heads, the jointly trained network."""
    return REPRESENTATIONS


@clust_core.hookimpl
def clust_pseudo_labelers():
    """Prototype pseudo-labels (eqs. 2-4) and reliable pseudo-labels (§III-C)."""
    return LABELERS


@clust_core.hookimpl
def clust_losses():
    """InfoNCE, double-softmax cross-entropy (eq. 5) and FixMatch."""
    return LOSSES


@clust_core.hookimpl
def clust_assignments():
    """The lowest-loss head."""
    return ASSIGNMENTS


@clust_core.hookimpl
def clust_loops():
    """FixMatch's labelled stream (stage 3)."""
    return LOOPS


@clust_core.hookimpl
def clust_schedules():
    """FixMatch's cos(7πt / 16T) learning-rate decay (stage 3)."""
    return SCHEDULES


@clust_core.hookimpl
def clust_recipes():
    """``spice`` and ``spice-self``."""
    return RECIPES
