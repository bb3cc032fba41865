"""`digits`: scikit-learn's bundled 8 x 8 handwritten digits, the built-in default."""

import numpy as np
from sklearn.datasets import load_digits as _sklearn_digits

from .imageset import ImageSet


def load_digits() -> ImageSet:
    """Load the 1,797 digits that ship with scikit-learn (no download).

    Pixel values 0-16 are scaled to 0-255 and rounded.

    Returns:
        ImageSet ``digits``: 1797 x 8 x 8 x 1 uint8 with labels 0-9.
    """
    bunch = _sklearn_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return ImageSet(images=images, labels=bunch.target, name="digits")
