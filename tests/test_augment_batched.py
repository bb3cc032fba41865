"""Batched views: per-sample randomness, torchvision equality for fixed parameters, the papers' ranges."""
import math

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from clust_core.augment import BUILTIN_AUGMENTATIONS, SampleRandom, build_augmentation, ops
from clust_core.augment.colour import ColorJitter, GaussianBlur, brightness, contrast, hue, saturation
from clust_core.augment.cutout import Cutout
from clust_core.augment.geometry import PadCrop, ResizedCrop
from clust_core.augment.keras import KerasAffine
from clust_core.augment.randaugment import FIXMATCH_OPS, SCAN_OPS, RandomOps
from clust_core.augment.randomness import _signed, splitmix64, splitmix64_reference
from clust_core.registry import load_registry

INSTALLED = {**BUILTIN_AUGMENTATIONS, **load_registry().augmentations}
"""Core's views and the installed plugins' (``dccm``, ``dccs``)."""


def build(name: str, shape: tuple[int, int, int], **params):
    """The installed augmentation ``name`` for ``shape``."""
    return build_augmentation(name, shape, INSTALLED, **params)

NEAREST = F.InterpolationMode.NEAREST


def images(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def magnitudes(n: int, low: float, high: float, seed: int = 1) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


# --- randomness ---------------------------------------------------------------------------------------------------

def test_splitmix64_matches_the_unsigned_reference() -> None:
    values = [0, 1, 12345, 2**40 + 5, 2**63 - 1, 2**64 - 3]
    hashed = splitmix64(torch.tensor([_signed(v) for v in values]))
    assert [h & (2**64 - 1) for h in hashed.tolist()] == [splitmix64_reference(v) for v in values]
    assert splitmix64_reference(0) == 0 and splitmix64_reference(1) == 0x5692161D100B05E5


def test_sample_streams_depend_on_key_and_index_only() -> None:
    full = SampleRandom(7, torch.arange(10)).uniform(5)
    part = SampleRandom(7, torch.tensor([9, 3])).uniform(5)
    assert torch.equal(part, full[[9, 3]])
    assert not torch.equal(SampleRandom(8, torch.arange(10)).uniform(5), full)
    assert 0 <= full.min() and full.max() < 1
    u = SampleRandom(1, torch.arange(20000)).uniform(1)
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.005


# --- every built-in view --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(set(INSTALLED) - {"clean"}))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["grey28", "rgb32"])
def test_identical_images_in_one_batch_get_different_views(name: str, shape: tuple[int, int, int]) -> None:
    view = build(name, shape)
    twins = images(shape).expand(8, *shape).contiguous()
    out = view(twins, SampleRandom(3, torch.arange(8)))
    # Normalised resize and blur weights may overshoot 1 by a float rounding error, as torchvision's do.
    assert out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1 + 1e-6
    assert len({tuple(row.flatten().tolist()) for row in out}) > 1


@pytest.mark.parametrize("name", sorted(INSTALLED))
def test_views_are_reproducible_and_independent_of_batch_size(name: str) -> None:
    view, batch = build(name, (3, 32, 32)), images((12, 3, 32, 32))
    whole = view(batch, SampleRandom(11, torch.arange(12)))
    again = view(batch, SampleRandom(11, torch.arange(12)))
    some = view(batch[[7, 2, 5]], SampleRandom(11, torch.tensor([7, 2, 5])))
    assert torch.equal(whole, again)
    assert torch.allclose(some, whole[[7, 2, 5]], atol=1e-6)


# --- fixed parameters: batched == torchvision on each image ------------------------------------------------------

def test_resized_crop_equals_torchvision_per_image() -> None:
    x = images((32, 3, 32, 28)).float() / 255
    crop = ResizedCrop((32, 28), (0.2, 1.0))
    params = crop.draw(SampleRandom(3, torch.arange(32)), x.shape)
    reference = torch.stack([F.resized_crop(x[b], *[int(params[k][b]) for k in ("top", "left", "height", "width")],
                                            [32, 28], antialias=True) for b in range(32)])
    assert torch.allclose(crop.transform(x, params), reference, atol=1e-5)


def test_pad_crop_equals_torchvision_per_image() -> None:
    x = images((16, 1, 16, 16))
    crop = PadCrop(4, 3)
    params = crop.draw(SampleRandom(3, torch.arange(16)), x.shape)
    reference = torch.stack([F.crop(F.pad(x[b], [4, 3]), int(params["top"][b]), int(params["left"][b]), 16, 16)
                             for b in range(16)])
    assert torch.equal(crop.transform(x, params), reference)
    assert params["top"].max() <= 6 and params["left"].max() <= 8


def _affine(image, shear=(0.0, 0.0), translate=(0.0, 0.0)):
    return F.affine(image, angle=0.0, translate=list(translate), scale=1.0, shear=list(shear), interpolation=NEAREST,
                    fill=0.0)


OP_REFERENCES = {
    "rotate": (-30, 30, lambda im, v: F.rotate(im, v, interpolation=NEAREST, fill=0.0)),
    "shear_x": (-0.3, 0.3, lambda im, v: _affine(im, shear=(math.degrees(math.atan(v)), 0.0))),
    "shear_y": (-0.3, 0.3, lambda im, v: _affine(im, shear=(0.0, math.degrees(math.atan(v))))),
    "translate_x": (-0.3, 0.3, lambda im, v: _affine(im, translate=(v * im.shape[-1], 0.0))),
    "translate_y": (-0.3, 0.3, lambda im, v: _affine(im, translate=(0.0, v * im.shape[-2]))),
    "brightness": (0.05, 0.95, F.adjust_brightness),
    "contrast": (0.05, 0.95, F.adjust_contrast),
    "color": (0.05, 0.95, F.adjust_saturation),
    "sharpness": (0.05, 0.95, F.adjust_sharpness),
    "posterize": (4, 8, lambda im, v: F.posterize(im, int(v))),
    "solarize": (0, 256, lambda im, v: torch.where(im.float() >= v, 255 - im, im)),
    "autocontrast": (0, 1, lambda im, v: F.autocontrast(im)),
    "equalize": (0, 1, lambda im, v: F.equalize(im)),
}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", sorted(OP_REFERENCES))
def test_randaugment_ops_equal_torchvision_per_image(name: str, channels: int) -> None:
    low, high, reference = OP_REFERENCES[name]
    x, v = images((16, channels, 12, 10)), magnitudes(16, low, high)
    out = getattr(ops, name)(x, v)
    expected = torch.stack([reference(x[b], float(v[b])) for b in range(16)])
    assert out.dtype == torch.uint8
    # Blends truncate a float to uint8; torchvision's fused multiply-add can round the last bit differently,
    # which moves a pixel sitting on an integer by one level (seen: at most 3 pixels in 5,760).
    differ = (out.int() - expected.int()).abs()
    assert differ.max() <= 1 and int((differ > 0).sum()) <= out.numel() // 1000


@pytest.mark.parametrize("op,reference,low,high", [
    (brightness, F.adjust_brightness, 0.6, 1.4), (contrast, F.adjust_contrast, 0.6, 1.4),
    (saturation, F.adjust_saturation, 0.6, 1.4), (hue, F.adjust_hue, -0.1, 0.1)])
def test_float_colour_ops_equal_torchvision_per_image(op, reference, low, high) -> None:
    x, v = images((16, 3, 12, 10)).float() / 255, magnitudes(16, low, high)
    expected = torch.stack([reference(x[b], float(v[b])) for b in range(16)])
    assert torch.allclose(op(x, v), expected, atol=1e-5)


def test_gaussian_blur_equals_torchvision_per_image() -> None:
    x, sigma = images((8, 3, 16, 16)).float() / 255, magnitudes(8, 0.1, 2.0)
    expected = torch.stack([F.gaussian_blur(x[b], [9, 9], [float(sigma[b])] * 2) for b in range(8)])
    assert torch.allclose(GaussianBlur(9, (0.1, 2.0)).transform(x, {"sigma": sigma}), expected, atol=1e-5)


def test_keras_affine_shifts_by_whole_pixels_with_edge_fill() -> None:
    x = torch.arange(36, dtype=torch.float32).reshape(1, 1, 6, 6).repeat(2, 1, 1, 1)
    params = {"angle": torch.zeros(2, dtype=torch.float64), "zoom": torch.ones(2, 2, dtype=torch.float64),
              "shift": torch.tensor([[2.0, 0.0], [0.0, -1.0]], dtype=torch.float64)}
    out = KerasAffine(20, (0.18, 0.18), (0.85, 1.15)).transform(x, params)
    assert torch.allclose(out[0, 0, :, :4], x[0, 0, :, 2:], atol=1e-5)
    assert torch.allclose(out[0, 0, :, 4:], x[0, 0, :, 5:].expand(6, 2), atol=1e-5)
    assert torch.allclose(out[1, 0, 1:], x[1, 0, :5], atol=1e-5) and torch.allclose(out[1, 0, 0], x[1, 0, 0], atol=1e-5)


def test_cutout_fills_each_samples_own_square() -> None:
    x = torch.ones(3, 1, 10, 10)
    params = {"side": torch.tensor([4, 3, 0]), "row": torch.tensor([5, 0, 4]), "col": torch.tensor([5, 9, 4])}
    out = Cutout(4, min_side=0).transform(x, params)
    assert torch.equal(out[0, 0, 3:7, 3:7], torch.zeros(4, 4)) and int((out[0] == 0).sum()) == 16
    assert torch.equal(out[1, 0, 0:2, 8:10], torch.zeros(2, 2)) and int((out[1] == 0).sum()) == 4
    assert torch.equal(out[2], x[2])


# --- the papers' ranges -------------------------------------------------------------------------------------------

def test_drawn_parameters_stay_in_the_papers_ranges() -> None:
    rand, shape = SampleRandom(5, torch.arange(4000)), torch.Size((4000, 3, 32, 32))
    box = ResizedCrop((32, 32), (0.2, 1.0)).draw(rand, shape)
    area = box["height"] * box["width"] / 1024.0
    assert area.min() >= 0.2 * 0.9 and area.max() <= 1.0 and (box["top"] + box["height"]).max() <= 32
    aspect = box["width"] / box["height"]
    assert aspect.min() > 3 / 4 * 0.8 and aspect.max() < 4 / 3 * 1.25
    keras = KerasAffine(20, (0.18, 0.18), (0.85, 1.15)).draw(rand, shape)
    assert keras["angle"].abs().max() <= math.radians(20) and keras["angle"].abs().max() > math.radians(19)
    assert keras["zoom"].min() >= 0.85 and keras["zoom"].max() <= 1.15 and keras["shift"].abs().max() <= 0.18 * 32
    jitter = ColorJitter(0.4, 0.4, 0.4, 0.1).draw(rand, shape)
    assert jitter["factors"][:, :3].min() >= 0.6 and jitter["factors"][:, :3].max() <= 1.4
    assert jitter["factors"][:, 3].abs().max() <= 0.1
    assert all(sorted(row) == [0, 1, 2, 3] for row in jitter["order"][:50].tolist())
    sigma = GaussianBlur(13, (0.1, 2.0)).draw(rand, shape)["sigma"]
    assert sigma.min() >= 0.1 and sigma.max() <= 2.0
    for pool, n in ((SCAN_OPS, 4), (FIXMATCH_OPS, 3)):
        drawn = RandomOps(pool, n).draw(rand, shape)
        assert drawn["ops"].shape == (4000, n) and set(drawn["ops"].flatten().tolist()) == set(range(14))
        low = torch.tensor([pool[i].low for i in drawn["ops"].flatten().tolist()]).view(4000, n)
        high = torch.tensor([pool[i].high for i in drawn["ops"].flatten().tolist()]).view(4000, n)
        assert ((drawn["magnitudes"] >= low) & (drawn["magnitudes"] <= high)).all()
    side = Cutout(16).draw(rand, shape)["side"]
    assert side.min() == 1 and side.max() == 16


# --- devices ------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", sorted(INSTALLED))
def test_cuda_views_equal_cpu_views(name: str) -> None:
    view, batch = build(name, (3, 32, 32)), images((64, 3, 32, 32))
    cpu = view(batch, SampleRandom(4, torch.arange(64)))
    cuda = view(batch.cuda(), SampleRandom(4, torch.arange(64, device="cuda")))
    assert torch.allclose(cuda.cpu(), cpu, atol=1e-5 if name not in {"scan_strong", "fixmatch_strong"} else 1 / 255)


@pytest.mark.parametrize("pool", [SCAN_OPS, FIXMATCH_OPS], ids=["scan", "fixmatch"])
def test_random_ops_equal_each_samples_ops_applied_one_by_one(pool) -> None:
    x = images((64, 3, 12, 10))
    step = RandomOps(pool, 4)
    params = step.draw(SampleRandom(9, torch.arange(64)), x.shape)
    expected = []
    for b in range(64):
        image = x[b]
        for pick, magnitude in zip(params["ops"][b].tolist(), params["magnitudes"][b].tolist()):
            image = pool[pick].apply(image, magnitude)
        expected.append(image)
    assert torch.equal(step.transform(x, params), torch.stack(expected))
