"""The ``spice`` (stages 1-3) and ``spice-self`` (stages 1-2) recipes (paper §III-A to §III-C, §IV-B).

Stage ``pretrain`` learns MoCo v2 features and is cached by the hash of its
config and data; ``cluster`` trains 10 heads on the frozen backbone with
prototype pseudo-labels and keeps the lowest-loss head; ``joint`` fine-tunes
backbone and selected head with FixMatch on the reliable pseudo-labels.

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382. Settings the paper does not give
come from the released code, https://github.com/niuchuangnn/SPICE: stage 1 from ``tools/train_moco.py``'s
defaults and ``train.md``; stage 2 from ``configs/<dataset>/spice_self.py``; the reliable-label ratio from
``configs/<dataset>/eval.py``; stage 3 from ``tools/train_semi.py`` and ``train.md``, which keep FixMatch's
hyper-parameters (§IV-B; FixMatch, Sohn et al., NeurIPS 2020, §4.1, https://arxiv.org/abs/2001.07685).
"""
from __future__ import annotations

import math

from clust_core.config import (EvaluationConfig, LabelerSlot, LossSlot, OptimizerConfig, RepresentationSlot, Slot,
                               StageConfig, ViewConfig)
from clust_core.recipe import DataInfo, RecipeSpec, cifar_sized_input

from .backbones import default_backbone

FIXMATCH_ITERATIONS = 2**20
"""T = 2^20 FixMatch iterations (FixMatch §4.1; SPICE's ``tools/train_semi.py``)."""

SHORT: dict[str, tuple[int, int, int]] = {
    "digits": (60, 20, 15),
    "mnist_test": (60, 20, 10),
    "fashion_mnist_test": (60, 20, 10),
    "usps": (60, 20, 10),
}
"""Epochs (pretrain, cluster, joint) for the small grey sets, which the paper does not use: this plugin's
choice, sized for a CPU (README, benchmarks/results/spice.md). Other data get the paper's schedule."""


def _grey_small(data: DataInfo) -> bool:
    return data.shape[0] == 1 and max(data.shape[1:]) <= 28


def _epochs(data: DataInfo) -> tuple[int, int, int]:
    """MoCo 1000 epochs (``train_moco.py``); heads 30 (CIFAR-10) or 100 (``spice_self.py`` configs); FixMatch
    2^20 iterations of 448 images (``train_semi.py``)."""
    if data.known in SHORT:
        return SHORT[data.known]
    joint = math.ceil(FIXMATCH_ITERATIONS / max(1, data.n // 448))
    return 1000, 30 if data.known.startswith("cifar10") else 100, joint


def pretrain_stage(data: DataInfo, backbone: str, flip: bool) -> StageConfig:
    """Stage 1: MoCo v2 (§III-A; code ``tools/train_moco.py``)."""
    return StageConfig(
        representation=RepresentationSlot("spice.moco", params={"backbone": backbone},
                                          cache="auto"),               # issue 6: reuse by config+data hash
        assignment=Slot("core.kmeans"),                        # k-means on the MoCo embedding, for reference
        losses={"infonce": LossSlot("spice.infonce", views=["query", "key"],
                                    params={"queue_size": min(12800, _queue_cap(data.n))})},  # train.md: 12800 (CIFAR)
        views={"clean": ViewConfig(),
               "query": ViewConfig("mocov2", {"flip": flip}),
               "key": ViewConfig("mocov2", {"flip": flip})},
        epochs=_epochs(data)[0],
        batch_size=128,                                                    # train_moco.py: batch 128
        optimizer=OptimizerConfig(name="sgd", lr=0.015, momentum=0.9,     # train_moco.py: SGD 0.015, mom. 0.9,
                                  weight_decay=1e-4, schedule="cosine"),  # wd 1e-4, cosine
        evaluation=EvaluationConfig(every=0),
    )


def _queue_cap(n: int) -> int:
    """A queue below the dataset size, a multiple of the batch (128): older keys of the same image
    would otherwise sit in the queue as negatives of their own query."""
    return max(128, (n // 2) // 128 * 128)


def cluster_stage(data: DataInfo, backbone: str, flip: bool) -> StageConfig:
    """Stage 2: SPICE-Self (§III-B, Algorithm 1; code ``tools/train_self_v2.py``, ``configs/*/spice_self.py``)."""
    return StageConfig(
        representation=RepresentationSlot("spice.cluster_heads", params={"backbone": backbone},
                                          init_from="pretrain"),
        assignment=Slot("spice.best_head"),                                # §IV-B: lowest loss, never labels
        labelers={"prototype": LabelerSlot("spice.prototype", view=["weak", "clean"])},  # §III-B: weak probs
        losses={"ce": LossSlot("spice.double_softmax", views=["strong"], supervision="prototype")},  # eq. 5
        views={"clean": ViewConfig(), "weak": ViewConfig("weak", {"flip": flip}),
               "strong": ViewConfig("scan_strong", {"flip": flip})},
        epochs=_epochs(data)[1],
        batch_size=min(5000, data.n),                                      # spice_self.py: big batch B = 5000
        loop=Slot("core.outer_inner",                                     # labels per big batch, then
                  params={"repeats": 8, "inner_batch": 128, "draws": 1}),  # num_repeat 8, sub-batch 128
        optimizer=OptimizerConfig(name="adam", lr=0.005),                  # spice_self.py: Adam 0.005, wd 0
        evaluation=EvaluationConfig(every=5),
    )


def joint_stage(data: DataInfo, backbone: str, flip: bool) -> StageConfig:
    """Stage 3: SPICE-Semi, FixMatch on the reliable pseudo-labels (§III-C; code ``tools/train_semi.py``)."""
    ratio = 0.99 if data.known.startswith("cifar") else 0.9               # eval.py: 0.99 CIFAR, 0.9 others
    return StageConfig(
        representation=RepresentationSlot("spice.joint", params={"backbone": backbone},  # the EMA model is evaluated
                                          init_from="cluster"),          # paper: fine-tune F and the head
        assignment=Slot("core.argmax"),
        labelers={"reliable": LabelerSlot("spice.reliable", view="clean", every=0, params={"ratio": ratio})},
        losses={"fixmatch": LossSlot("spice.fixmatch", views=["weak", "strong"], supervision="reliable")},
        views={"clean": ViewConfig(), "weak": ViewConfig("weak", {"flip": flip}),
               "strong": ViewConfig("fixmatch_strong", {"flip": flip})},
        loop=Slot("spice.labelled", params={"labeler": "reliable", "batch_size": 64}),  # FixMatch: 64 labelled
        epochs=_epochs(data)[2],
        batch_size=448,                                                    # FixMatch: mu 7 -> 448 unlabelled
        optimizer=OptimizerConfig(name="sgd", lr=0.03, momentum=0.9, nesterov=True,  # FixMatch, train_semi.py
                                  weight_decay=5e-4, schedule="fixmatch"),
        evaluation=EvaluationConfig(every=5),
    )


def spice_self_stages(data: DataInfo) -> dict[str, StageConfig]:
    """SPICE-Self: MoCo v2 features, then clustering heads on the frozen backbone."""
    backbone, flip = default_backbone(data.shape), not _grey_small(data)   # no flips on digits
    return {"pretrain": pretrain_stage(data, backbone, flip), "cluster": cluster_stage(data, backbone, flip)}


def spice_stages(data: DataInfo) -> dict[str, StageConfig]:
    """SPICE: SPICE-Self, then joint training on the reliable pseudo-labels."""
    stages = spice_self_stages(data)
    stages["joint"] = joint_stage(data, default_backbone(data.shape), not _grey_small(data))
    return stages


PAPER_SETS = ("stl10", "cifar10", "cifar100", "imagenet", "tiny_imagenet", "tiny-imagenet")
"""The paper's datasets (§IV-A, names starting so): they keep their size; larger images of other data are
resized to 32 x 32 (:func:`~clust_core.recipe.cifar_sized_input`), where SPICE uses its CIFAR-10 network."""

SPECS = [
    RecipeSpec(name="spice", stages=spice_stages, input_size=cifar_sized_input(PAPER_SETS),
               doc="SPICE (Niu et al., TIP 2022): MoCo v2, prototype pseudo-labels, reliable labels + FixMatch."),
    RecipeSpec(name="spice-self", stages=spice_self_stages, input_size=cifar_sized_input(PAPER_SETS),
               doc="SPICE-Self: MoCo v2 features and prototype-labelled clustering heads (stages 1-2)."),
]
