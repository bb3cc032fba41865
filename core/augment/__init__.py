"""Augmentations: factories ``factory(shape, **params)`` returning batched views.

A view maps uint8 images B x C x H x W to float32 images in [0, 1], drawing
every random parameter per sample (from :class:`SampleRandom`, so a sample's
view depends on the batch's key and its own index only) and computing the
whole batch at once on the batch's device. Called on one C x H x W image or
without randomness, a view draws a fresh key from torch's generator (so
``torch.manual_seed`` reproduces it). Defaults are the papers' values; each
factory's docstring names its source.
"""

from .basic import AugmentationFactory, Params, Pipeline, RandomApply, Step, ToUnitFloat, View, clean
from .cutout import Cutout
from .keras import ChannelShift, KerasAffine
from .mocov2 import mocov2
from .randaugment import FIXMATCH_OPS, SCAN_OPS, Op, RandomOps
from .randomness import SampleRandom
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
    "Params",
    "Pipeline",
    "RandomApply",
    "RandomOps",
    "SampleRandom",
    "Step",
    "ToUnitFloat",
    "View",
    "build_augmentation",
    "clean",
    "fixmatch_strong",
    "mocov2",
    "scan_strong",
    "weak",
]
