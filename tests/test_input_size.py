"""A recipe's CPU-sized input (``RecipeSpec.input_size``): the rule, and what ``resolve`` does with it."""
from __future__ import annotations

from clust_core.recipe import DataInfo, cifar_sized_input


def test_only_larger_images_of_data_the_paper_does_not_name_are_resized() -> None:
    rule = cifar_sized_input(("cifar10", "stl10"))
    assert rule(DataInfo("npz:coil20", (1, 128, 128), 1440, 20)) == 32
    assert rule(DataInfo("npz:orl", (1, 112, 92), 400, 40)) == 32    # not square: 32 x 32
    assert rule(DataInfo("stl10", (3, 96, 96), 13000, 10)) is None   # the paper's: its size and schedule
    assert rule(DataInfo("cifar10", (3, 32, 32), 60000, 10)) is None
    assert rule(DataInfo("digits", (1, 8, 8), 1797, 10)) is None     # small already
    assert rule(DataInfo("npz:umist", (1, 32, 33), 575, 20)) == 32
