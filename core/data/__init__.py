"""Data: the in-memory `ImageSet`, dataset specs, image files and the multi-view dataset.

Labels travel with an ImageSet for evaluation only; `MultiViewDataset` never
returns them, so they cannot reach training.
"""

from .cifar100 import CIFAR100_COARSE, CIFAR100_SUPERCLASSES
from .imageset import ImageSet
from .images import load_images
from .multiview import MultiViewDataset
from .specs import ACCEPTED_FORMS, load_dataset, resize_imageset

__all__ = [
    "ACCEPTED_FORMS",
    "CIFAR100_COARSE",
    "CIFAR100_SUPERCLASSES",
    "ImageSet",
    "MultiViewDataset",
    "load_dataset",
    "load_images",
    "resize_imageset",
]
