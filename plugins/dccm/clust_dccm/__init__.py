"""DCCM (Wu et al., ICCV 2019) as a clust plugin: networks, pseudo-labelers, losses and the ``dccm`` recipe."""
from __future__ import annotations

import clust_core

from .specs import LABELERS, LOSSES, REPRESENTATIONS
from . import views
from .recipe import SPECS as RECIPES

CLUST_HOOK_API = clust_core.HOOK_API_VERSION


@clust_core.hookimpl
def clust_representations():
    """Supplement Table 1's networks and a small-image variant."""
    return REPRESENTATIONS


@clust_core.hookimpl
def clust_pseudo_labelers():
    """Pseudo-graph (eq. 2) and confident pseudo-label (eqs. 7-8)."""
    return LABELERS


@clust_core.hookimpl
def clust_losses():
    """Pseudo-graph, pseudo-label and triplet mutual-information losses."""
    return LOSSES


@clust_core.hookimpl
def clust_augmentations():
    """The `dccm` view."""
    return views.AUGMENTATIONS


@clust_core.hookimpl
def clust_recipes():
    """The ``dccm`` recipe."""
    return RECIPES
