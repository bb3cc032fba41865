"""The batched transform type, the pipeline that chains them, shape checks and `clean`.

A view is a :class:`View`: it takes a batch of images B x C x H x W
(uint8) and a :class:`~.randomness.SampleRandom` holding one random stream per
sample, and returns float32 images in [0, 1], computed for the whole batch at
once on the batch's device. Called on a single C x H x W image, or without
randomness, it makes a batch of one and a fresh key from torch's generator.

Intermediate images follow torchvision's convention: uint8 holds 0..255,
floating point holds [0, 1].
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..errors import ClustError
from .randomness import SampleRandom

AugmentationFactory = Callable[..., Callable[..., Tensor]]

# ITU-R 601-2 luma weights as torchvision's rgb_to_grayscale uses them.
LUMA = (0.2989, 0.587, 0.114)


def check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate an image shape (C, H, W) with C = 1 or 3.

    Raises:
        ClustError: If the shape has the wrong length, channel count or a size below 1.
    """
    values = tuple(int(value) for value in shape)
    if len(values) != 3 or values[0] not in (1, 3) or min(values) < 1:
        raise ClustError(f"image shape must be (C, H, W) with C = 1 or 3, got {tuple(shape)}")
    return values  # type: ignore[return-value]


def fill_for(channels: int, rgb: Sequence[float]) -> tuple[float, ...]:
    """A fill colour for `channels`: the RGB triple itself, or its luma for grey images."""
    return tuple(rgb) if channels == 3 else (sum(w * c for w, c in zip((0.299, 0.587, 0.114), rgb)),)


class View(ABC):
    """A random image transform applied to a whole batch with per-sample parameters.

    Calling a view accepts one image (C x H x W) or a batch (B x C x H x W) and
    optional randomness.
    """

    @abstractmethod
    def apply(self, images: Tensor, rand: SampleRandom) -> Tensor:
        """Transform a B x C x H x W batch; ``rand`` holds the per-sample streams."""

    def __call__(self, images: Tensor, rand: SampleRandom | None = None) -> Tensor:
        """Apply to one image or a batch; without ``rand`` a fresh key is drawn from torch's generator."""
        single = images.ndim == 3
        batch = images.unsqueeze(0) if single else images
        if rand is None:
            rand = SampleRandom.fresh(batch.shape[0], batch.device)
        out = self.apply(batch, rand)
        return out[0] if single else out


Params = dict[str, Tensor]


class Step(View):
    """One operation: :meth:`draw` makes per-sample parameters, :meth:`transform` applies them.

    Keeping the two apart lets a test apply fixed parameters, and lets
    :class:`RandomApply` draw for every sample but apply to some.
    """

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """Per-sample parameters (tensors with a leading batch axis) for images of ``shape``."""
        return {}

    @abstractmethod
    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Apply the parameters to a batch."""

    def apply(self, images: Tensor, rand: SampleRandom) -> Tensor:
        """Draw, then transform."""
        return self.transform(images, self.draw(rand, images.shape))


class Pipeline(View):
    """Views applied in order, each drawing from the same per-sample streams.

    Args:
        steps: The views.
    """

    def __init__(self, steps: Sequence[View]) -> None:
        self.steps = tuple(steps)

    def apply(self, images: Tensor, rand: SampleRandom) -> Tensor:
        """Run every step."""
        for step in self.steps:
            images = step.apply(images, rand)
        return images


def subset(params: Params, mask: Tensor) -> Params:
    """The parameters of the samples where ``mask`` is set."""
    return {key: value[mask] for key, value in params.items()}


class RandomApply(Step):
    """Apply ``step`` to each sample with probability ``p`` (its parameters are drawn for all).

    Args:
        step: The operation.
        p: Probability per sample.

    Raises:
        ValueError: If ``p`` is outside [0, 1].
    """

    def __init__(self, step: Step, p: float) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability must lie in [0, 1], got {p}")
        self.step, self.p = step, float(p)

    def draw(self, rand: SampleRandom, shape: torch.Size) -> Params:
        """The step's parameters and the coin."""
        return {**self.step.draw(rand, shape), "_apply": rand.chance(self.p)}

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Apply where the coin says so."""
        mask = params["_apply"]
        if not bool(mask.any()):
            return images
        out = images.clone()
        out[mask] = self.step.transform(images[mask], subset(params, mask))
        return out


class ToUnitFloat(Step):
    """Convert uint8 images to float32 in [0, 1], exactly ``x / 255``."""

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Divide by 255.

        Raises:
            ClustError: If the images are not uint8.
        """
        if images.dtype != torch.uint8:
            raise ClustError(f"augmentations take uint8 images, got {images.dtype}")
        return images.to(torch.float32).div(255.0)


def grey(images: Tensor) -> Tensor:
    """Luma of RGB images as one channel, in the input's scale (uint8 truncated as torchvision does)."""
    if images.shape[-3] == 1:
        return images.clone()
    r, g, b = images.unbind(dim=-3)
    luma = r.mul(LUMA[0]).add_(g, alpha=LUMA[1]).add_(b, alpha=LUMA[2]).unsqueeze(-3)
    return luma if images.is_floating_point() else luma.to(images.dtype)


class Grayscale(Step):
    """Turn RGB images into one grey channel (luma); grey images are unchanged."""

    def transform(self, images: Tensor, params: Params) -> Tensor:
        """Keep the luma."""
        return grey(images)


def clean(shape: tuple[int, int, int], *, grayscale: bool = False) -> View:
    """No augmentation: the image as float in [0, 1] (the evaluation view).

    Args:
        shape: (C, H, W) of the input.
        grayscale: Convert RGB to one grey channel first, as DCCS's clean view does
            (Zhao et al., ECCV 2020, code: "[Grayscale(1)], ToTensor"); grey input is unchanged.

    Returns:
        uint8 B x C x H x W -> float32 B x C x H x W (B x 1 x H x W with grayscale).
    """
    channels, _, _ = check_shape(shape)
    steps: list[View] = [Grayscale()] if grayscale and channels == 3 else []
    return Pipeline([*steps, ToUnitFloat()])
