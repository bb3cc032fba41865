"""The scikit-learn-style estimator."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from clust_core import ClustError, Clusterer
from clust_core.metrics import cluster_accuracy


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return (data.images / 16.0).astype(np.float32), data.target


def test_fit_on_an_array_gives_labels_and_predict_agrees(digits) -> None:
    images, target = digits
    model = Clusterer(plugin="kmeans", k=10, report=False).fit(images)
    assert model.labels_.shape == (1797,)
    assert cluster_accuracy(target, model.labels_) >= 0.70
    assert model.metrics_ == {}
    assert (model.predict(images[:100]) == model.labels_[:100]).all()
    assert ((model.confidences_ >= 0) & (model.confidences_ <= 1)).all()


def test_y_is_only_used_for_metrics_and_k(digits) -> None:
    images, target = digits
    model = Clusterer(plugin="kmeans", report=False).fit(images, target)
    assert model.config_.k == 10
    assert model.metrics_["acc"] == pytest.approx(cluster_accuracy(target, model.labels_))


def test_fit_predict_on_a_spec_string_and_a_torch_dataset(digits) -> None:
    images, target = digits
    from_spec = Clusterer(report=False).fit_predict("digits")
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(images[:, None]), torch.from_numpy(target))
    from_dataset = Clusterer(report=False).fit_predict(dataset)
    assert (from_spec == from_dataset).all()


def test_overrides_use_double_underscores_for_dots(digits) -> None:
    images, _ = digits
    model = Clusterer(k=5, report=False, cluster__assignment__params__n_redo=1).fit(images[:300])
    assert model.config_.stages["cluster"].assignment.params["n_redo"] == 1
    assert len(np.unique(model.labels_)) == 5


def test_misuse_raises_one_line_errors(digits) -> None:
    images, _ = digits
    with pytest.raises(ClustError, match="before fit"):
        Clusterer().predict(images)
    with pytest.raises(ClustError, match="no labels"):
        Clusterer(report=False).fit(images)
    model = Clusterer(k=3, report=False).fit(images[:50])
    with pytest.raises(ClustError, match="shape"):
        model.predict(np.zeros((2, 16, 16), dtype=np.float32))
