"""The ``dccm`` recipe: one stage with DCCM's outer/inner schedule (Algorithm 1; released code ``main.py``).

DCCM: Wu et al., ICCV 2019, https://arxiv.org/abs/1904.06925; released code: https://github.com/Cory-M/DCCM
(``main.py`` ``train``, settings in ``cfgs/*.yaml``).
"""
from __future__ import annotations

from collections.abc import Collection

from clust_core.config import EvaluationConfig, LabelerSlot, LossSlot, OptimizerConfig, Slot, StageConfig, ViewConfig
from clust_core.recipe import DataInfo, RecipeSpec, cifar_sized_input

from .networks import layout_for

TERMS = ("graph", "graph_aug", "label", "label_aug", "mi")
"""Loss terms of eq. 15: L_PG, L'_PG, L_PL, L'_PL (eq. 12) and L_MI (eq. 14)."""

ALPHA, BETA = 5.0, 0.1
"""Paper §4 "Implementation Details" (the released code uses beta = 0.05 on the MI term)."""

EPOCHS: dict[str, int] = {"digits": 3, "usps": 15, "mnist_test": 15, "fashion_mnist_test": 15}
"""Epochs where the paper names none. Datasets of the paper (CIFAR, STL-10, ImageNet-10/dog,
Tiny-ImageNet) and unknown ones get the released code's 200 (``cfgs/*.yaml``); the small grey
sets are not in the paper, their counts are this plugin's choice (README, measured runs)."""


PAPER_SETS = ("cifar10", "cifar100", "stl10", "imagenet10", "imagenet_dog", "tiny_imagenet")
"""Datasets of the paper (names starting so): DIM's local discriminator as the paper sizes it."""

SMALL_MI = {"taps": "code", "hidden": 128}
"""The MI term on data the paper does not name (digits, USPS, MNIST, ...), chosen by measurement
(README, ``benchmarks/results/dccm_sizing.md``, ``dccm_mi_cost*.md``): the first max-pool tap and a 128-wide
discriminator reached ACC 0.641 / 0.499 on USPS / MNIST-test at equal steps where the paper's setting reached
0.582 on USPS (S tap, width 128: 0.598 / 0.467), at 6.7x / 12.5x less time per step."""


def dccm_stages(data: DataInfo, terms: Collection[str] = TERMS, taps: str | None = None) -> dict[str, StageConfig]:
    """DCCM's stage for ``data`` with the loss terms ``terms`` (the paper's ablation, Table 3).

    Args:
        data: Dataset name, shape, size and K.
        terms: Subset of :data:`TERMS`; all of them is eq. 15. ``("graph_aug", "label_aug", "mi")``
            is the released code's objective (transformed views only).
        taps: MI taps, ``paper`` (supplement §4) or ``code`` (``layers: [7, 19]``); None: the paper's on its
            datasets, :data:`SMALL_MI` elsewhere.
    """
    paper = data.known.startswith(PAPER_SETS)
    taps = taps or ("paper" if paper else SMALL_MI["taps"])
    layout = layout_for(data.shape)
    supervision = {"graph": "graph", "graph_aug": "graph", "label": "label", "label_aug": "label", "mi": "graph"}
    losses = {
        "graph": LossSlot("dccm.graph", weight=1.0, views=["clean"]),                       # L_PG, eq. 3
        "graph_aug": LossSlot("dccm.graph", weight=1.0, views=["aug"]),                     # L'_PG, eq. 12
        "label": LossSlot("dccm.label", weight=ALPHA, views=["clean"]),                     # alpha L_PL, eq. 9
        "label_aug": LossSlot("dccm.label", weight=ALPHA, views=["aug"]),                   # alpha L'_PL, eq. 12
        "mi": LossSlot("dccm.triplet_mi", weight=BETA, views=["aug"],                      # beta L_MI, eq. 14
                       params={"layout": layout, "taps": taps,
                               **({} if paper else {"hidden": SMALL_MI["hidden"]})}),     # paper: 512
    }
    unknown = set(terms) - set(TERMS)
    if unknown:
        raise ValueError(f"unknown DCCM terms {sorted(unknown)}; use some of {TERMS}")
    for key, slot in losses.items():
        slot.supervision = supervision[key]
    return {"train": StageConfig(
        representation=Slot(f"dccm.{layout}", params={"taps": taps}),
        assignment=Slot("core.argmax"),                                                    # eq. 7
        labelers={"graph": LabelerSlot("dccm.pseudo_graph", view="clean"),                  # W, eq. 2
                  "label": LabelerSlot("dccm.pseudo_label", view="clean")},                 # y, V, eqs. 7-8
        losses={key: slot for key, slot in losses.items() if key in terms},
        views={"clean": ViewConfig("clean"),
               # code main.py: Keras 2.0.2's ImageDataGenerator draws one channel-shift offset per channel
               "aug": ViewConfig("dccm", params={"channel_shift_per_channel": True})},
        epochs=EPOCHS.get(data.known, 200),
        batch_size=1000,                                                                    # code: large_bs (cfgs)
        loop=Slot("core.outer_inner",                                                      # Algorithm 1:
                  params={"repeats": 10, "inner_batch": 32, "draws": 2}),                  # code main.py
        optimizer=OptimizerConfig(name="rmsprop", lr=1e-4, alpha=0.9,                       # paper §4; code alpha
                                  amp=False),                                               # the code trains in fp32
        evaluation=EvaluationConfig(batchnorm="batch"),                                     # code: batch statistics
    )}


SPECS = [RecipeSpec(name="dccm", stages=dccm_stages, input_size=cifar_sized_input(PAPER_SETS),
                    doc="DCCM (Wu et al., ICCV 2019): pseudo-graph, pseudo-label, local robustness, triplet MI.")]
