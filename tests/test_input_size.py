"""A recipe's CPU-sized input (``RecipeSpec.input_size``): the rule, and what ``resolve`` does with it."""
from __future__ import annotations

import numpy as np

from clust_core.recipe import DataInfo, cifar_sized_input
from clust_core.registry import load_registry
from clust_core.resolve import RunRequest, resolve
from clust_core.testing import tiny_imageset


def test_only_larger_images_of_data_the_paper_does_not_name_are_resized() -> None:
    rule = cifar_sized_input(("cifar10", "stl10"))
    assert rule(DataInfo("npz:coil20", (1, 128, 128), 1440, 20)) == 32
    assert rule(DataInfo("npz:orl", (1, 112, 92), 400, 40)) == 32    # not square: 32 x 32
    assert rule(DataInfo("stl10", (3, 96, 96), 13000, 10)) is None   # the paper's: its size and schedule
    assert rule(DataInfo("cifar10", (3, 32, 32), 60000, 10)) is None
    assert rule(DataInfo("digits", (1, 8, 8), 1797, 10)) is None     # small already
    assert rule(DataInfo("npz:umist", (1, 32, 33), 575, 20)) == 32


def test_resolve_resizes_for_the_recipe_and_records_the_size(tmp_path) -> None:
    registry = load_registry()
    big = tiny_imageset(n=48, shape=(1, 48, 48), k=4)
    config, images = resolve(registry, RunRequest(plugin="spice-self"), images=big)
    assert images.shape == (1, 32, 32) and config.data.size == 32 and big.shape == (1, 48, 48)
    assert np.array_equal(images.labels, big.labels)
    config, images = resolve(registry, RunRequest(plugin="kmeans"), images=big)  # no rule: as loaded
    assert images.shape == (1, 48, 48) and config.data.size is None
    path = tmp_path / "big.npz"
    np.savez(path, images=big.images, labels=big.labels)
    _, images = resolve(registry, RunRequest(plugin="scan", dataset=f"npz:{path}", sets=["data.size=40"]))
    assert images.shape == (1, 40, 40)  # the user's size wins
