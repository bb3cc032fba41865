"""Clustering metrics against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from clust_core.errors import ClustError
from clust_core.metrics import (
    ari,
    cluster_accuracy,
    confusion_matrix,
    evaluate,
    many_to_one_accuracy,
    nmi,
)

# Two classes, three clusters: class 0 -> clusters {0: 2, 1: 1}, class 1 -> {1: 1, 2: 3}.
TRUE_2x3 = [0, 0, 0, 1, 1, 1, 1]
PRED_2x3 = [0, 0, 1, 1, 2, 2, 2]


def test_accuracy_is_one_under_any_label_permutation() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    for permutation in ([3, 2, 1, 0], [1, 0, 3, 2], [10, 7, 42, 5]):
        assert cluster_accuracy(labels, np.array(permutation)[labels]) == 1.0


def test_confusion_matrix_rows_are_classes_columns_are_clusters() -> None:
    expected = np.array([[2, 1, 0], [0, 1, 3]])
    np.testing.assert_array_equal(confusion_matrix(TRUE_2x3, PRED_2x3), expected)


def test_confusion_matrix_uses_sorted_present_labels() -> None:
    expected = np.array([[1, 1], [0, 1]])
    np.testing.assert_array_equal(confusion_matrix([5, 5, 9], [7, 3, 7]), expected)


def test_accuracy_with_more_clusters_than_classes() -> None:
    # Best matching: class 0 -> cluster 0 (2), class 1 -> cluster 2 (3); cluster 1 is unmatched.
    assert cluster_accuracy(TRUE_2x3, PRED_2x3) == pytest.approx(5 / 7)


def test_accuracy_with_fewer_clusters_than_classes() -> None:
    # Cluster 0 can cover only one of classes 0 and 1; class 2 -> cluster 1.
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 1, 1]) == pytest.approx(4 / 6)


def test_many_to_one_accuracy_on_over_clustering() -> None:
    # Clusters 0 and 1 both map to class 0, cluster 2 to class 1.
    assert many_to_one_accuracy([0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 2, 2]) == 1.0
    # Cluster majorities: 0 -> class 0 (2), 1 -> tie (1), 2 -> class 1 (3).
    assert many_to_one_accuracy(TRUE_2x3, PRED_2x3) == pytest.approx(6 / 7)


def test_nmi_of_identical_partitions_is_one() -> None:
    assert nmi([0, 0, 1, 1, 2], [2, 2, 0, 0, 1]) == pytest.approx(1.0)


def test_nmi_of_independent_partitions_is_zero() -> None:
    assert nmi([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)


def test_nmi_geometric_matches_hand_computation() -> None:
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 1, 1, 1, 1]
    n = 6
    joint = {(0, 0): 2, (0, 1): 1, (1, 1): 3}
    rows = {0: 3, 1: 3}
    cols = {0: 2, 1: 4}
    mutual = sum(c / n * math.log(c * n / (rows[i] * cols[j])) for (i, j), c in joint.items())
    h_true = -sum(c / n * math.log(c / n) for c in rows.values())
    h_pred = -sum(c / n * math.log(c / n) for c in cols.values())
    expected = mutual / math.sqrt(h_true * h_pred)
    assert nmi(y_true, y_pred) == pytest.approx(expected)
    assert nmi(y_true, y_pred, average="arithmetic") == pytest.approx(2 * mutual / (h_true + h_pred))


def test_ari_known_values() -> None:
    assert ari([0, 0, 1, 1, 2], [1, 1, 2, 2, 0]) == pytest.approx(1.0)
    # Pairs together in both: 2; row pairs 6, column pairs 3, all pairs 15.
    expected_index = 6 * 3 / 15
    expected = (2 - expected_index) / ((6 + 3) / 2 - expected_index)
    assert expected == pytest.approx(8 / 33)
    assert ari([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(expected)


def test_evaluate_reports_every_metric() -> None:
    result = evaluate(np.array(TRUE_2x3), torch.tensor(PRED_2x3))
    assert set(result) == {"acc", "nmi", "nmi_average", "ari", "n", "k", "n_classes", "acc_many_to_one"}
    assert result["acc"] == pytest.approx(5 / 7)
    assert result["acc_many_to_one"] == pytest.approx(6 / 7)
    assert result["nmi_average"] == "geometric"
    assert (result["n"], result["k"], result["n_classes"]) == (7, 3, 2)
    assert evaluate(TRUE_2x3, PRED_2x3, nmi_average="max")["nmi_average"] == "max"


@pytest.mark.parametrize(
    ("y_true", "y_pred"),
    [([0, 1, 1], [0, 1]), ([], []), ([[0, 1]], [[0, 1]]), ([0.5, 1.0], [0, 1])],
)
def test_invalid_labels_raise_clust_error(y_true: list, y_pred: list) -> None:
    with pytest.raises(ClustError):
        evaluate(y_true, y_pred)


def test_unknown_nmi_average_raises_clust_error() -> None:
    with pytest.raises(ClustError):
        nmi([0, 1], [0, 1], average="harmonic")


def test_neighbour_purity_leaves_each_image_itself_out() -> None:
    from clust_core.metrics import neighbour_purity
    table = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0], [3, 2, 1]])
    # pairs without the image itself: (0,1) same, (0,2) other, (1,0) same, (1,3) other, (2,3) same,
    # (2,0) other, (3,2) same, (3,1) other
    assert neighbour_purity(table, np.array([0, 0, 1, 1])) == 0.5
    assert neighbour_purity(table, np.array([0, 0, 0, 0])) == 1.0
