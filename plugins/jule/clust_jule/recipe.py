"""The ``jule`` recipe: alternate merging periods and ~20 epochs of SGD (paper §3.6, Alg. 1).

Period-count rule: the 1-NN chain gives at most ⌊N/2⌋ initial clusters (every
component holds ≥ 2 samples), so P = len(schedule(⌊N/2⌋, K, η)) merging periods
always reach K. The stage trains ``every`` epochs after the initial clustering
(period 0, no merging) and after each of the P merges: epochs = every·(P + 1).
If the actual initial count needs fewer periods, the labeler stops merging at K
and the remaining periods keep training on the final clusters. The stage's
assignment re-clusters the final features from scratch (OURS-RC); the labeler's
final labels are OURS-SF.
"""
from __future__ import annotations

from clust_core.config import EvaluationConfig, LabelerSlot, LossSlot, OptimizerConfig, Slot, StageConfig
from clust_core.recipe import DataInfo, RecipeSpec

from .process import schedule

FACES = ("umist", "frgc", "cmu_pie", "ytf", "orl")
"""Face datasets, for which paper Table 2 sets η = 0.2 (0.9 for digits and objects)."""

EPOCHS_PER_PERIOD = 20   # paper §3.6: "about 20 epochs"; Torch -epoch_pp 20
BATCH_SIZE = 100         # Torch train.lua: mini-batches of 100


def unrolling_rate(data: DataInfo) -> float:
    """η of paper Table 2."""
    return 0.2 if data.known.lower().startswith(FACES) else 0.9


def merge_periods(n: int, k: int, eta: float) -> int:
    """Periods that bring at most ⌊n/2⌋ initial clusters down to k."""
    return len(schedule(max(n // 2, k), k, eta))


def jule_stages(data: DataInfo) -> dict[str, StageConfig]:
    """One stage: dataset-scope agglomerative labels → triplet loss; RC assignment at the end."""
    eta = unrolling_rate(data)
    periods = merge_periods(data.n, data.k, eta)
    return {"jule": StageConfig(
        representation=Slot("jule.cnn"),
        labelers={"clusters": LabelerSlot("jule.agglomerative", params={"eta": eta}, every=EPOCHS_PER_PERIOD)},
        losses={"triplet": LossSlot("jule.triplet", supervision="clusters")},
        assignment=Slot("jule.agglomerative", params={"eta": eta}),
        epochs=EPOCHS_PER_PERIOD * (periods + 1),
        batch_size=BATCH_SIZE,
        # paper §4.1.2: SGD, lr 0.01, momentum 0.9, weight decay 5e-5, "inv" decay γ 1e-4, power 0.75,
        # iteration count global over the stage (Torch and Caffe alike)
        optimizer=OptimizerConfig(name="sgd", lr=0.01, momentum=0.9, weight_decay=5e-5, schedule="inv",
                                  schedule_params={"gamma": 1e-4, "power": 0.75}),
        evaluation=EvaluationConfig(every=0),
    )}


def pixel_stages(data: DataInfo) -> dict[str, StageConfig]:
    """No training: the agglomerative clustering of :func:`jule_stages`' assignment on raw pixels.

    The paper's strongest pixel baseline is AC-GDL (Table 3); this is the same graph-degree-linkage
    clustering with the paper's partial unrolling (§3.6, η as :func:`unrolling_rate`), so it is the row a
    JULE run has to beat: what the learned representation adds over the pixels it starts from.
    """
    return {"cluster": StageConfig(representation=Slot("core.pixels"),
                                   assignment=Slot("jule.agglomerative", params={"eta": unrolling_rate(data)}),
                                   epochs=0, batch_size=1024)}


SPECS = [RecipeSpec(name="jule", stages=jule_stages,
                    doc="JULE: recurrent agglomerative clustering + CNN with a weighted triplet loss."),
         RecipeSpec(name="jule-pixels", stages=pixel_stages,
                    doc="JULE's agglomerative clustering (GDL affinity) on raw pixels: the pixel baseline.")]
