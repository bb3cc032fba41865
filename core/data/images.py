"""Image files to uint8 arrays: reading, channel matching and resizing."""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ClustError
from .reason import describe

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
_WIDE_GREY_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_GREY_MODES = frozenset({"1", "L", "LA", "La", "F"}) | _WIDE_GREY_MODES
# ITU-R 601-2 luma, the weights PIL and torchvision use to turn RGB into grey.
_LUMA = np.array([0.299, 0.587, 0.114])


def available_memory() -> int | None:
    """Bytes of memory available now (``MemAvailable``), None where the system does not say."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(count: float) -> str:
    """``count`` bytes in B, KiB, … PiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024:
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} PiB"


def check_fits(n: int, shape: tuple[int, int, int], what: str) -> None:
    """Refuse, with an estimate, ``n`` uint8 images of ``shape`` (C, H, W) that would not fit in memory.

    Raises:
        ClustError: naming the size needed and the size available.
    """
    needed, available = n * int(np.prod(shape, dtype=np.float64)), available_memory()
    if available is not None and needed > available:
        channels, height, width = shape
        raise ClustError(f"{what}: {n} images of {height}x{width}x{channels} need about {format_bytes(needed)} "
                         f"of memory, {format_bytes(available)} is available: use a smaller size (data.size)")


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file.

    Grey modes stay one channel (16-bit grey is scaled by 1/257 to 0-255); every
    other mode (palette, RGBA, CMYK, ...) becomes RGB, dropping any alpha.

    Args:
        path: The image file.

    Returns:
        A uint8 array H x W x 1 or H x W x 3.

    Raises:
        ClustError: If the file is missing, not an image or corrupt.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in _WIDE_GREY_MODES:
                wide = np.asarray(image, dtype=np.float64) / 257.0
                return np.clip(np.rint(wide), 0, 255).astype(np.uint8)[..., None]
            if image.mode in _GREY_MODES:
                return np.asarray(image.convert("L"), dtype=np.uint8)[..., None]
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ClustError(f"cannot read image {path} ({describe(exc)})") from exc


def match_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Give an H x W x C uint8 image 1 or 3 channels (grey repeated, or RGB to luma)."""
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=-1)
    grey = np.rint(image.astype(np.float64) @ _LUMA)
    return np.clip(grey, 0, 255).astype(np.uint8)[..., None]


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an H x W x C uint8 image with PIL's (antialiased) bilinear filter."""
    if image.shape[:2] == (height, width):
        return image
    grey = image.shape[-1] == 1
    picture = Image.fromarray(image[..., 0] if grey else image)
    resized = np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)
    return resized[..., None] if grey else resized


def fit_image(image: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Bring an H x W x C uint8 image to `shape` = (C, H, W): channels first, then size."""
    channels, height, width = shape
    return resize_image(match_channels(image, channels), height, width)


def load_images(paths: Sequence[str | Path], shape: tuple[int, int, int]) -> np.ndarray:
    """Read image files for prediction, matched to the shape a model was trained on.

    Args:
        paths: Image files, in the order wanted.
        shape: (C, H, W) of the training images; grey and RGB are converted into
            each other and other sizes are resized (bilinear) as needed.

    Returns:
        A uint8 array N x H x W x C.

    Raises:
        ClustError: If no path is given, the shape is invalid or a file cannot be read.
    """
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
        raise ClustError(f"image shape must be (C, H, W) with C = 1 or 3, got {tuple(shape)}")
    if not paths:
        raise ClustError("no image files given")
    channels, height, width = (int(value) for value in shape)
    images = np.empty((len(paths), height, width, channels), dtype=np.uint8)
    for position, path in enumerate(paths):
        images[position] = fit_image(read_image(path), (channels, height, width))
    return images
