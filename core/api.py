"""A scikit-learn-style estimator over any recipe: ``Clusterer(plugin="kmeans").fit(X).labels_``."""
from __future__ import annotations

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
        k: Number of clusters (default: the number of distinct labels, when X has labels).
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

    def __init__(self, plugin: str = "kmeans", *, recipe: str | None = None, k: int | None = None, seed: int = 0,
                 device: str = "auto", out: str | Path | None = None, **overrides: Any) -> None:
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
        run_dir = None
        if self.out is not None:
            run_dir = runs.new_run_dir(self.out, self.config_.recipe, images.name)
            runs.write_config(run_dir, self.config_)
        self._accelerator = Accelerator(self.config_.device)
        result = Runner(registry, self.config_, images, self._accelerator, run_dir).run()
        if run_dir is not None:
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
        return f'"{value}"'
    return repr(value)


def to_imageset(X: Any, y: Any = None) -> ImageSet:
    """An :class:`ImageSet` from a spec string, an array (N×H×W[×C] or N×C×H×W) or a torch Dataset."""
    if isinstance(X, ImageSet):
        return X
    if isinstance(X, str):
        images = load_dataset(X)
        return images if y is None else ImageSet(images.images, np.asarray(y), images.name, images.paths)
    if isinstance(X, torch.utils.data.Dataset):
        items = [X[i] for i in range(len(X))]
        pairs = [item if isinstance(item, (tuple, list)) else (item,) for item in items]
        X = np.stack([np.asarray(p[0]) for p in pairs])
        if y is None and all(len(p) > 1 for p in pairs):
            y = np.array([int(p[1]) for p in pairs])
    array = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(0, 2, 3, 1)
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ClustError(f"image values must lie in [0, 1] or [0, 255], got [{array.min()}, {array.max()}]")
        scale = 255.0 if array.size and array.max() <= 1.0 else 1.0
        array = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    return ImageSet(images=array, labels=None if y is None else np.asarray(y), name="array")
