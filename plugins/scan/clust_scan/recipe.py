"""The ``scan`` recipe: a pretext stage, the SCAN step on mined neighbours, then self-labelling.

Van Gansbeke et al., ECCV 2020, https://arxiv.org/abs/2005.12320 (§2, §3.1); the released configs
(``configs/scan/scan_*.yml``, ``configs/selflabel/selflabel_*.yml`` of
https://github.com/wvangansbeke/Unsupervised-Classification) give the values below. The pretext stage is
SPICE's MoCo v2 stage, taken from the ``spice-self`` recipe unchanged so both methods share its cached
result (the paper trains SimCLR on CIFAR/STL and uses MoCo weights on ImageNet).
"""
from __future__ import annotations

from clust_core.config import (EvaluationConfig, LabelerSlot, LossSlot, OptimizerConfig, RepresentationSlot, Slot,
                               StageConfig, ViewConfig)
from clust_core.recipe import DataInfo, RecipeSpec, cifar_sized_input
from clust_spice.backbones import default_backbone
from clust_spice.recipe import spice_self_stages

PAPER_SETS = ("cifar10", "cifar100", "stl10", "imagenet")
"""Datasets of the paper (names starting so); the others get this plugin's CPU schedule (:data:`SMALL`), and
images larger than 32 px are resized to 32 x 32 (:func:`~clust_core.recipe.cifar_sized_input`), the paper's
CIFAR input."""

SMALL = {"scan_epochs": 50, "scan_lr": 1e-2, "heads": 10, "selflabel_epochs": 50, "selflabel_batch": 256}
"""Data the paper does not use (digits, USPS, MNIST, ...): this plugin's choice, measured on digits (README,
``benchmarks/results/scan.md``): the SCAN step trains the heads alone on ``weak`` views at lr 1e-2 (ACC 0.83;
training the backbone too, ``scan_strong`` views on 8x8 images, or lr 1e-3/1e-4 ended at 0.32-0.68);
self-labelling keeps the paper's lr, decay and threshold with the backbone fixed and ``weak`` views (at lr
1e-2 weight decay alone shrank the heads to uniform: no prediction reached 0.99 to learn from). Ten heads
with the lowest-loss selection of the paper's ImageNet configs: over three seeds and one or two CPU threads,
ACC 0.797 on average (worst 0.745) against 0.745 (worst 0.669) with one head."""


def _paper_data(data: DataInfo) -> bool:
    return data.known.startswith(PAPER_SETS)


def _backbone(data: DataInfo) -> dict:
    """SPICE's MoCo network, with the backbone SPICE picks for this image size (the pretext stage's)."""
    return {"component": "spice.moco", "params": {"backbone": default_backbone(data.shape)}}


def scan_stage(data: DataInfo, flip: bool) -> StageConfig:
    """The SCAN step (§2.2): heads on the pretext backbone, eq. 2 on (image, sampled mined neighbour)."""
    imagenet, paper = data.known.startswith("imagenet"), _paper_data(data)
    heads = 10 if imagenet else 1 if paper else SMALL["heads"]             # configs: num_heads
    k = 50 if imagenet else 20                                             # configs: num_neighbors
    view = ViewConfig("scan_strong" if paper else "weak", {"flip": flip})
    return StageConfig(
        representation=RepresentationSlot("scan.heads", {"backbone": _backbone(data), "heads": heads,
                                                         "train_backbone": paper and not imagenet},
                                          init_from="pretrain"),             # configs: update_cluster_head_only
        assignment=Slot("scan.lowest_loss_head", {"k": k}) if heads > 1 else Slot("core.argmax"),
        labelers={"mined": LabelerSlot("scan.neighbours", view="clean", every=0, params={"k": k})},  # §2.1
        losses={"scan": LossSlot("scan.scan", views=["anchor", "neighbour"],                        # eq. 2
                                 params={"output": "head_probs" if heads > 1 else "probs"})},
        views={"clean": ViewConfig(),
               "anchor": view,                                             # configs: augmentation "ours"
               "neighbour": ViewConfig(view.augmentation, dict(view.params), of="mined")},
        epochs=50 if paper else SMALL["scan_epochs"],                      # configs: 50
        batch_size=128,                                                    # configs: batch_size 128
        optimizer=OptimizerConfig(name="adam", weight_decay=1e-4,          # configs: Adam, wd 1e-4,
                                  lr=1e-4 if paper else SMALL["scan_lr"]),  # lr 1e-4, constant
        evaluation=EvaluationConfig(every=10),
    )


def selflabel_stage(data: DataInfo, flip: bool) -> StageConfig:
    """Self-labelling (§2.3): the kept head, trained on its confident predictions of clean images."""
    paper = _paper_data(data)
    return StageConfig(
        representation=RepresentationSlot("scan.heads", {"backbone": _backbone(data), "heads": 1,
                                                         "train_backbone": paper}, init_from="scan"),
        assignment=Slot("core.argmax"),
        losses={"selflabel": LossSlot("scan.confident_ce", views=["clean", "strong"])},  # threshold 0.99
        views={"clean": ViewConfig(), "strong": ViewConfig("scan_strong" if paper else "weak", {"flip": flip})},
        epochs=200 if paper else SMALL["selflabel_epochs"],                # selflabel configs: 200
        batch_size=min(1000 if paper else SMALL["selflabel_batch"], data.n),  # selflabel configs: 1000
        optimizer=OptimizerConfig(name="adam", weight_decay=1e-4, lr=1e-4),  # selflabel configs: Adam 1e-4, wd 1e-4
        evaluation=EvaluationConfig(every=10),
    )


def scan_stages(data: DataInfo) -> dict[str, StageConfig]:
    """Pretext (SPICE's cached MoCo v2 stage), SCAN step, self-labelling."""
    pretrain = spice_self_stages(data)["pretrain"]
    flip = pretrain.views["query"].params["flip"]                          # no flips on small grey digits
    return {"pretrain": pretrain, "scan": scan_stage(data, flip), "selflabel": selflabel_stage(data, flip)}


def scan_only_stages(data: DataInfo) -> dict[str, StageConfig]:
    """Pretext and the SCAN step, without self-labelling (the paper's "SCAN loss" rows)."""
    stages = scan_stages(data)
    del stages["selflabel"]
    return stages


SPECS = [
    RecipeSpec(name="scan", stages=scan_stages, input_size=cifar_sized_input(PAPER_SETS),
               doc="SCAN (Van Gansbeke et al., ECCV 2020): mined neighbours, SCAN loss, self-labelling."),
    RecipeSpec(name="scan-loss", stages=scan_only_stages, input_size=cifar_sized_input(PAPER_SETS),
               doc="SCAN without self-labelling: pretext and the SCAN step (the paper's 'SCAN loss' rows)."),
]
