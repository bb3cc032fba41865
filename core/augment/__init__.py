"""Augmentations: factories ``factory(shape, **params)`` returning per-sample transforms.

Every transform maps a uint8 C x H x W tensor to a float32 tensor in [0, 1] of
the same size, drawing its randomness from torch's generator (so
``torch.manual_seed`` reproduces it and DataLoader workers differ). Defaults
are the papers' values; each factory's docstring names the spec section.
"""

from .basic import AugmentationFactory, ToUnitFloat, Transform, clean
from .cutout import Cutout
from .dccm import dccm
from .dccs import dccs
from .keras import ChannelShift, KerasAffine
from .mocov2 import mocov2
from .randaugment import FIXMATCH_OPS, SCAN_OPS, Op, RandomOps
from .registry import BUILTIN_AUGMENTATIONS, build_augmentation
from .strong import fixmatch_strong, scan_strong
from .weak import weak

__all__ = [
    "BUILTIN_AUGMENTATIONS",
    "FIXMATCH_OPS",
    "SCAN_OPS",
    "AugmentationFactory",
    "ChannelShift",
    "Cutout",
    "KerasAffine",
    "Op",
    "RandomOps",
    "ToUnitFloat",
    "Transform",
    "build_augmentation",
    "clean",
    "dccm",
    "dccs",
    "fixmatch_strong",
    "mocov2",
    "scan_strong",
    "weak",
]
