"""Core's own components and the ``kmeans`` baseline recipe, registered as the plugin ``core``."""
from ..hookspecs import HOOK_API_VERSION, hookimpl
from . import assignments, labelers, loops, losses, recipes, representations

CLUST_HOOK_API = HOOK_API_VERSION


@hookimpl
def clust_representations():
    """Raw pixels and a small convolutional network."""
    return representations.SPECS


@hookimpl
def clust_pseudo_labelers():
    """k-means labels over the dataset; confident argmax labels per batch."""
    return labelers.SPECS


@hookimpl
def clust_losses():
    """Cross-entropy on pseudo-labels."""
    return losses.SPECS


@hookimpl
def clust_assignments():
    """Argmax of a head; k-means on an embedding."""
    return assignments.SPECS


@hookimpl
def clust_loops():
    """Plain mini-batches; labels per outer batch with repeated inner mini-batches."""
    return loops.SPECS


@hookimpl
def clust_recipes():
    """The k-means baseline on raw pixels."""
    return recipes.SPECS
