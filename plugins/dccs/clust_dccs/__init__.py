"""DCCS (Zhao et al., ECCV 2020): deep image clustering with category-style representation.

Components: ``dccs.encoder`` (Q), ``dccs.prior`` (WGAN-GP prior matching with
its critic), ``dccs.mi`` (JSD mutual information with its discriminator),
``dccs.aug_kl`` (augmentation invariance of z_c); recipe ``dccs``.
"""
from __future__ import annotations

import clust_core

from . import adversarial, encoders, invariance, mutual_info, recipe, views

CLUST_HOOK_API = clust_core.HOOK_API_VERSION


@clust_core.hookimpl
def clust_representations():
    """The encoder Q for 28x28 (convs), 32x32 and 96x96 (pre-activation ResNets) images."""
    return encoders.SPECS


@clust_core.hookimpl
def clust_losses():
    """Prior matching (with critic), mutual information (with discriminator), augmentation KL."""
    return adversarial.SPECS + mutual_info.SPECS + invariance.SPECS


@clust_core.hookimpl
def clust_augmentations():
    """The `dccs` view."""
    return views.AUGMENTATIONS


@clust_core.hookimpl
def clust_recipes():
    """The ``dccs`` method."""
    return recipe.SPECS
