"""A scikit-learn-style estimator over any recipe: ``Clusterer(plugin="kmeans").fit(X).labels_``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import runs
from .accelerate import Accelerator
from .artifacts import predict_images, write_artifacts
from .data import ImageSet, load_dataset
from .errors import ClustError
from .registry import load_registry
from .resolve import RunRequest, resolve
from .runner import Runner


class Clusterer:
    """Fit a clustering recipe on images and assign new ones.

    Args:
        plugin: Plugin or recipe name (``kmeans``, ``dccm``, …).
        recipe: A recipe of the plugin, when it has several.
        k: Number of clusters (default: the number of distinct labels, when X has labels); ``"auto"``
            estimates it from the pixels by the eigengap criterion (:mod:`clust_core.k_estimate`).
        seed: Random seed.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        out: Directory for a run directory with checkpoints and report; None keeps nothing on disk.
        **overrides: Settings as ``--set`` takes them, with ``__`` for ``.``:
            ``cluster__epochs=5`` is ``--set cluster.epochs=5``.

    Attributes:
        labels_: Cluster of each training image.
        confidences_: Confidence of each assignment.
        metrics_: ACC/NMI/ARI when the data had labels (or ``y`` was given), else empty.
        config_: The resolved :class:`~clust_core.config.RunConfig`.
        run_dir_: The run directory when ``out`` was given.
    """

    def __init__(self, plugin: str = "kmeans", *, recipe: str | None = None, k: int | str | None = None,
                 seed: int = 0, device: str = "auto", out: str | Path | None = None, **overrides: Any) -> None:
        self.plugin, self.recipe, self.k, self.seed = plugin, recipe, k, seed
        self.device, self.out, self.overrides = device, out, overrides

    def fit(self, X: Any, y: Any = None) -> Clusterer:
        """Train on ``X`` (an image array, a dataset spec string or a torch Dataset).

        ``y``, when given, is used only to report :attr:`metrics_`.
        """
        registry = load_registry()
        images = to_imageset(X, y)
        sets = [f"{key.replace('__', '.')}={_toml(value)}" for key, value in self.overrides.items()]
        request = RunRequest(plugin=self.plugin, recipe=self.recipe, sets=sets, k=self.k, seed=self.seed,
                             device=self.device)
        self.config_, images = resolve(registry, request, images=images)
        self._accelerator = Accelerator(self.config_.device)
        runner = Runner(registry, self.config_, images, self._accelerator, None)
        runner.prepare()  # every stage built before anything is written
        run_dir = None
        if self.out is None:
            result = runner.run()
        else:
            run_dir = runs.new_run_dir(self.out, self.config_.recipe, images.name)
            with runs.locked(run_dir):
                runs.write_config(run_dir, self.config_)
                runner.run_dir = run_dir
                result = runner.run()
                write_artifacts(run_dir, result, self.config_, registry, images)
        self._parts, self._shape = result.parts, images.shape
        self.labels_, self.confidences_ = result.assignment.labels, result.assignment.confidence
        self.metrics_, self.run_dir_ = result.metrics, run_dir
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Clusters of new images with the fitted model (no refit)."""
        if not hasattr(self, "_parts"):
            raise ClustError("Clusterer.predict called before fit")
        images = to_imageset(X)
        if images.shape != self._shape:
            raise ClustError(f"images of shape {images.shape} given, the model was fitted on {self._shape}")
        return predict_images(self._parts, images, self._accelerator).labels

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X).labels_``."""
        return self.fit(X, y).labels_


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    return repr(value)


def to_imageset(X: Any, y: Any = None) -> ImageSet:
    """An :class:`ImageSet` from a spec string, an array (N×H×W[×C] or N×C×H×W) or a torch Dataset.

    Raises:
        ClustError: one line for anything that is not images: a non-numeric or complex array, NaN or
            infinite values, values outside [0, 1] / [0, 255], a wrong shape, no images, or labels that are
            not one integer per image.
    """
    if isinstance(X, ImageSet):
        return X
    if isinstance(X, str):
        images = load_dataset(X)
        return images if y is None else ImageSet(images.images, _labels(y, images.n), images.name, images.paths)
    if isinstance(X, torch.utils.data.Dataset):
        X, y = _from_dataset(X, y)
    array = _numeric_array(X, "images")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(0, 2, 3, 1)
    if array.ndim != 4 or array.shape[-1] not in (1, 3) or 0 in array.shape:
        raise ClustError(f"images must be N×H×W, N×H×W×C or N×C×H×W with C = 1 or 3 and no empty axis, "
                         f"got shape {np.shape(X)}")
    if array.dtype != np.uint8:
        array = _to_uint8(array)
    return ImageSet(images=array, labels=None if y is None else _labels(y, len(array)), name="array")


def _from_dataset(dataset: torch.utils.data.Dataset, y: Any) -> tuple[np.ndarray, Any]:
    """Stack a torch Dataset's images (and take its labels when every item carries one)."""
    try:
        items = [dataset[i] for i in range(len(dataset))]
        pairs = [item if isinstance(item, (tuple, list)) else (item,) for item in items]
        X = np.stack([_numeric_array(p[0], "dataset images") for p in pairs])
        if y is None and pairs and all(len(p) > 1 for p in pairs):
            y = [p[1] for p in pairs]
    except ClustError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user's Dataset can fail in any way
        raise ClustError(f"cannot read images from the dataset: {type(exc).__name__}: {exc}") from None
    return X, y


def _numeric_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a real, numeric, finite NumPy array."""
    if value is None:
        raise ClustError(f"{what} must be an array, got None")
    try:
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
    except (ValueError, TypeError) as exc:
        raise ClustError(f"{what} must be a numeric array: {str(exc).splitlines()[0]}") from None
    if array.dtype.kind == "c":
        raise ClustError(f"{what} must be real, got complex values ({array.dtype})")
    if array.dtype.kind not in "buif":
        raise ClustError(f"{what} must be a numeric array, got dtype {array.dtype} "
                         f"({type(array.flat[0]).__name__ if array.size else 'empty'} values)")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).any(axis=1))[0]) if array.ndim else 0
        raise ClustError(f"{what} contain NaN or infinite values (first in item {bad})")
    return array


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (scaled by 255) or [0, 255] as uint8."""
    if array.dtype.kind == "b":
        return array.astype(np.uint8) * 255
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise ClustError(f"image values must lie in [0, 1] or [0, 255], got [{low}, {high}]")
    scale = 255.0 if high <= 1.0 else 1.0
    return np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)


def _labels(y: Any, n: int) -> np.ndarray:
    """``y`` as one integer label per image."""
    labels = _numeric_array(y, "labels")
    if labels.shape != (n,):
        raise ClustError(f"labels must be one per image: {n} images, labels of shape {labels.shape}")
    if labels.dtype.kind == "f":
        if not np.equal(np.mod(labels, 1), 0).all():
            raise ClustError("labels must be integers, got fractional values")
        labels = labels.astype(np.int64)
    return labels.astype(np.int64)
