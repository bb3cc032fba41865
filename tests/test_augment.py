"""Tests of clust_core.augment: every built-in augmentation, the registry, Cutout and the ops."""

import pytest
import torch

from clust_core.augment import (BUILTIN_AUGMENTATIONS, ChannelShift, Cutout, FIXMATCH_OPS, SCAN_OPS, RandomOps,
                                ToUnitFloat, build_augmentation)
from clust_core.augment import ops
from clust_core.errors import ClustError
from clust_core.registry import load_registry

INSTALLED = {**BUILTIN_AUGMENTATIONS, **load_registry().augmentations}
"""Core's views and the installed plugins' (``dccm``, ``dccs``)."""


def build(name: str, shape: tuple[int, int, int], **params):
    """The installed augmentation ``name`` for ``shape``."""
    return build_augmentation(name, shape, INSTALLED, **params)

SHAPES = [(1, 8, 8), (1, 16, 16), (1, 28, 28), (3, 32, 32), (3, 96, 96), (1, 112, 92)]


def image(shape: tuple[int, int, int], seed: int = 0) -> torch.Tensor:
    """A random uint8 C x H x W image."""
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: "x".join(map(str, shape)))
@pytest.mark.parametrize("name", sorted(INSTALLED))
def test_every_builtin_gives_float_in_unit_range(name: str, shape: tuple[int, int, int]) -> None:
    transform = build(name, shape)
    x = image(shape)
    for _ in range(3):
        y = transform(x)
        channels = 1 if name == "dccs" else shape[0]
        assert y.shape == (channels, *shape[1:]) and y.dtype == torch.float32
        assert 0.0 <= y.min() and y.max() <= 1.0
    assert torch.equal(x, image(shape)), "the input must not be modified"


@pytest.mark.parametrize("name", sorted(INSTALLED))
def test_every_builtin_is_reproducible_under_manual_seed(name: str) -> None:
    transform, x = build(name, (3, 32, 32)), image((3, 32, 32))
    torch.manual_seed(3)
    first = transform(x)
    torch.manual_seed(3)
    assert torch.equal(transform(x), first)


@pytest.mark.parametrize("name", sorted(set(INSTALLED) - {"clean"}))
def test_random_builtins_differ_between_calls(name: str) -> None:
    transform, x = build(name, (3, 32, 32)), image((3, 32, 32))
    torch.manual_seed(0)
    assert not all(torch.equal(transform(x), transform(x)) for _ in range(3))


def test_clean_is_exactly_x_over_255() -> None:
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    assert torch.equal(build_augmentation("clean", (1, 16, 16))(x), x.float() / 255)
    assert build_augmentation("clean", (3, 8, 8), grayscale=True)(image((3, 8, 8))).shape == (1, 8, 8)


def test_dccs_can_keep_colour() -> None:
    assert build("dccs", (3, 32, 32), grayscale=False)(image((3, 32, 32))).shape == (3, 32, 32)


def test_dccm_without_randomness_is_the_identity() -> None:
    x = image((3, 12, 10))
    still = build("dccm", (3, 12, 10), rotation=0, shift=0, zoom=(1, 1), channel_shift=0,
                               flip=False, rescale=1.0)
    assert torch.allclose(still(x), x.float() / 255, atol=1e-6)


def test_channel_shift_stays_within_the_image_range() -> None:
    x = torch.linspace(0.2, 0.7, 48).reshape(3, 4, 4)
    for per_channel in (False, True):
        y = ChannelShift(0.1, per_channel=per_channel)(x)
        assert y.min() >= 0.2 - 1e-6 and y.max() <= 0.7 + 1e-6
    offset = ChannelShift(0.1)(x) - x
    inside = (x > 0.31) & (x < 0.59)
    assert torch.allclose(offset[inside], offset[inside][0])  # one offset for the whole image


def test_cutout_blanks_one_square() -> None:
    x = torch.ones(3, 20, 20)
    cut = Cutout(max_side=6, min_side=6, fill=0.0)
    torch.manual_seed(0)
    full = 0
    for _ in range(50):
        hole = (cut(x) == 0).all(dim=0)
        rows, cols = hole.any(dim=1).nonzero(), hole.any(dim=0).nonzero()
        assert int(hole.sum()) == len(rows) * len(cols) <= 36  # a rectangle, clipped at the border
        full += int(hole.sum()) == 36
    assert full > 10 and torch.equal(x, torch.ones(3, 20, 20))


def test_cutout_fill_on_uint8_and_per_channel() -> None:
    out = Cutout(max_side=40, min_side=40, fill=(1.0, 0.5, 0.0))(torch.zeros(3, 4, 4, dtype=torch.uint8))
    assert out[:, 0, 0].tolist() == [255, 128, 0]
    with pytest.raises(ClustError, match="fill"):
        Cutout(2, fill=(0.1, 0.2))(torch.zeros(3, 4, 4))


def test_unknown_name_or_parameter_is_a_clust_error() -> None:
    with pytest.raises(ClustError, match="known are.*scan_strong"):
        build_augmentation("autoaugment", (3, 32, 32))
    with pytest.raises(ClustError, match="no parameter 'padd'"):
        build_augmentation("weak", (3, 32, 32), padd=4)
    with pytest.raises(ClustError, match="image shape"):
        build_augmentation("weak", (4, 32, 32))
    with pytest.raises(ClustError, match="bad parameter"):
        build_augmentation("mocov2", (3, 32, 32), jitter_p=2.0)


def test_registry_adds_plugin_augmentations() -> None:
    def invert(shape: tuple[int, int, int], *, strength: float = 1.0):
        return lambda x: 1 - x.float() / 255 * strength

    made = build_augmentation("plugin.invert", (1, 4, 4), registry={"plugin.invert": invert}, strength=1.0)
    assert made(torch.zeros(1, 4, 4, dtype=torch.uint8)).eq(1).all()


def test_weak_padding_rule_and_override() -> None:
    x = torch.full((1, 32, 32), 200, dtype=torch.uint8)
    torch.manual_seed(0)
    zeros = max(int((build_augmentation("weak", (1, 32, 32), flip=False)(x) == 0).sum()) for _ in range(30))
    assert 0 < zeros <= 32 * 32 - 28 * 28  # at most 4 padded rows and columns
    still = build_augmentation("weak", (1, 32, 32), padding=0)
    assert torch.equal(still(x), x.float() / 255)


def test_randaugment_pools_and_ops() -> None:
    assert len(SCAN_OPS) == 14 and len(FIXMATCH_OPS) == 14
    x = image((1, 8, 8))
    assert torch.equal(RandomOps(SCAN_OPS, 0)(x), x)
    assert torch.equal(ops.solarize(x, 256), x) and torch.equal(ops.solarize(x, 0), 255 - x)
    assert torch.equal(ops.color(x, 0.1), x)  # saturation does nothing on grey images
    for op in FIXMATCH_OPS:
        assert op.apply(image((3, 8, 8)), op.high).dtype == torch.uint8
    with pytest.raises(ClustError, match="uint8"):
        ToUnitFloat()(torch.zeros(1, 2, 2))
