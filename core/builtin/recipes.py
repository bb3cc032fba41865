"""The k-means baseline: the first row of every paper's results table."""
from __future__ import annotations

from ..config import Slot, StageConfig
from ..recipe import DataInfo, RecipeSpec


def kmeans_stages(data: DataInfo) -> dict[str, StageConfig]:
    """One stage, no training: k-means on raw pixels scaled to [0, 1]."""
    del data
    return {"cluster": StageConfig(representation=Slot("core.pixels"), assignment=Slot("core.kmeans"),
                                   epochs=0, batch_size=1024)}


SPECS = [RecipeSpec(name="kmeans", stages=kmeans_stages, doc="k-means on raw pixels (the papers' baseline).")]
