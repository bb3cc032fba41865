"""Tests for clust_core.report: every picture is a valid, plausible PNG."""

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from sklearn.datasets import load_digits

from clust_core.errors import ClustError
from clust_core.report import (
    matched_confusion,
    plot_cluster_montage,
    plot_confusion,
    plot_embedding_2d,
    plot_training_curves,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First 300 sklearn digits: uint8 images, flat float features, classes."""
    data = load_digits()
    images = np.round(data.images[:300] / 16 * 255).astype(np.uint8)
    return images, data.data[:300], data.target[:300]


def assert_png(path: Path, min_side: int = 100) -> np.ndarray:
    """Check ``path`` is a readable PNG of plausible size and return its pixels."""
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert min(pixels.shape[:2]) >= min_side
    return pixels


def test_matched_confusion_permuted_perfect_clustering_is_diagonal() -> None:
    y_true = np.repeat([0, 1, 2, 3], 5)
    y_pred = np.array([7, 2, 9, 4])[y_true]
    matrix, order = matched_confusion(y_true, y_pred)
    np.testing.assert_array_equal(matrix, np.diag([5, 5, 5, 5]))
    np.testing.assert_array_equal(order, [7, 2, 9, 4])


def test_matched_confusion_puts_unmatched_clusters_last() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([5, 5, 3, 1, 1, 1])
    matrix, order = matched_confusion(y_true, y_pred)
    np.testing.assert_array_equal(order, [5, 1, 3])
    np.testing.assert_array_equal(matrix, [[2, 0, 1], [0, 3, 0]])


def test_matched_confusion_rejects_mismatched_lengths() -> None:
    with pytest.raises(ClustError):
        matched_confusion([0, 1], [0])


def test_plot_confusion(tmp_path: Path, digits) -> None:
    _, _, y = digits
    pred = (y + 3) % 10
    path = plot_confusion(y, pred, tmp_path / "sub" / "confusion.png")
    assert path == tmp_path / "sub" / "confusion.png"
    assert_png(path)


def test_plot_confusion_many_clusters(tmp_path: Path, digits) -> None:
    _, _, y = digits
    pred = np.random.default_rng(0).integers(0, 40, y.size)
    assert_png(plot_confusion(y, pred, tmp_path / "confusion.png"))


@pytest.mark.parametrize("layout", ["grey", "grey_channel", "rgb"])
def test_plot_cluster_montage_image_layouts(tmp_path: Path, digits, layout: str) -> None:
    images, _, y = digits
    if layout == "grey_channel":
        images = images[..., None]
    elif layout == "rgb":
        images = np.repeat(images[..., None], 3, axis=-1)
    confidences = np.random.default_rng(0).random(y.size)
    assert_png(plot_cluster_montage(images, y, confidences, tmp_path / "m.png"))


def test_plot_cluster_montage_orders_by_confidence(tmp_path: Path) -> None:
    shades = np.array([40, 80, 120, 160, 200], dtype=np.uint8)
    images = np.repeat(shades, 16 * 16).reshape(5, 16, 16)
    confidences = np.array([0.1, 0.9, 0.3, 0.5, 0.7])
    path = plot_cluster_montage(images, np.zeros(5, int), confidences, tmp_path / "m.png")
    grey = assert_png(path, min_side=50)[..., 0]
    middle = grey[np.argmax((grey < 0.9).sum(axis=1))]  # a row through all thumbnails
    runs = []
    start = 0
    for i in range(1, middle.size + 1):
        if i == middle.size or middle[i] != middle[start]:
            if i - start >= 20 and middle[start] < 0.99:
                runs.append(round(float(middle[start]) * 255))
            start = i
    assert runs == [80, 200, 160, 120, 40]


def test_plot_cluster_montage_skips_empty_clusters(tmp_path: Path, digits) -> None:
    images, _, _ = digits
    labels = np.where(np.arange(len(images)) % 2 == 0, 3, 17)
    confidences = np.linspace(0, 1, len(images))
    gappy = plot_cluster_montage(images, labels, confidences, tmp_path / "gappy.png")
    contiguous = np.where(labels == 3, 16, 17)
    two = plot_cluster_montage(images, contiguous, confidences, tmp_path / "two.png")
    assert assert_png(gappy).shape == assert_png(two).shape


def test_plot_cluster_montage_limits_rows(tmp_path: Path, digits) -> None:
    images, _, _ = digits
    labels = np.arange(len(images)) % 60
    confidences = np.ones(len(images))
    capped = plot_cluster_montage(images, labels, confidences, tmp_path / "a.png", max_clusters=5)
    full = plot_cluster_montage(images, labels, confidences, tmp_path / "b.png", max_clusters=60)
    assert assert_png(capped).shape[0] < assert_png(full).shape[0]


def test_plot_cluster_montage_rejects_bad_images(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        plot_cluster_montage(np.zeros((4, 8, 8), float), [0] * 4, [1.0] * 4, tmp_path / "x.png")
    with pytest.raises(ValueError):
        plot_cluster_montage(
            np.zeros((4, 8, 8, 2), np.uint8), [0] * 4, [1.0] * 4, tmp_path / "x.png"
        )


def test_plot_training_curves(tmp_path: Path) -> None:
    records = [
        {"stage": "train", "epoch": i // 10, "step": i, "loss": 1 / (i + 1), "loss/ce": 0.5}
        for i in range(30)
    ]
    records.append({"stage": "eval", "epoch": 2, "step": 30, "acc": 0.7, "nmi": 0.6})
    records.append({"stage": "eval", "epoch": 2, "step": 30, "note": "text only"})
    assert_png(plot_training_curves(records, tmp_path / "curves.png"))


def test_plot_training_curves_without_steps(tmp_path: Path) -> None:
    records = [{"loss": 1.0}, {"loss": 0.5, "acc": 0.2}]
    assert_png(plot_training_curves(records, tmp_path / "curves.png"))


@pytest.mark.parametrize("records", [[], [{"stage": "train", "epoch": 0, "step": 0}]])
def test_plot_training_curves_empty(tmp_path: Path, records: list) -> None:
    assert_png(plot_training_curves(records, tmp_path / "curves.png"))


def test_plot_embedding_2d_tsne_with_true_labels(tmp_path: Path, digits) -> None:
    _, features, y = digits
    path = plot_embedding_2d(features, (y + 1) % 10, tmp_path / "e.png", true_labels=y)
    pixels = assert_png(path)
    assert pixels.shape[1] > pixels.shape[0]


def test_plot_embedding_2d_subsamples(tmp_path: Path, digits) -> None:
    _, features, y = digits
    assert_png(plot_embedding_2d(features, y, tmp_path / "e.png", max_points=100))


@pytest.mark.parametrize("dims", [1, 2])
def test_plot_embedding_2d_low_dimensional(tmp_path: Path, digits, dims: int) -> None:
    _, features, y = digits
    assert_png(plot_embedding_2d(features[:, 20 : 20 + dims], y, tmp_path / "e.png"))


def test_write_report_all_files(tmp_path: Path, digits) -> None:
    images, features, y = digits
    records = [{"stage": "train", "epoch": 0, "step": s, "loss": 1.0 / (s + 1)} for s in range(5)]
    paths = write_report(
        tmp_path,
        images=images,
        labels=y,
        confidences=np.ones(y.size),
        features=features[:, :2],
        true_labels=y,
        records=records,
    )
    report = tmp_path / "report"
    names = ("confusion.png", "clusters.png", "curves.png", "embedding.png")
    assert paths == [report / name for name in names]
    for path in paths:
        assert_png(path)


def test_write_report_minimal(tmp_path: Path, digits) -> None:
    images, _, y = digits
    paths = write_report(tmp_path / "run", images=images, labels=y, confidences=np.ones(y.size))
    assert [p.name for p in paths] == ["clusters.png", "curves.png"]
    for path in paths:
        assert_png(path)
