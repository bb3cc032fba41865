"""Nearest neighbours, kNN graphs and k-means against brute force and hand-computed values."""

import math
import warnings

import numpy as np
import pytest
import torch

from clust_core import neighbors
from clust_core.errors import ClustError
from clust_core.metrics import cluster_accuracy
from clust_core.kmeans import kmeans
from clust_core.neighbors import knn, knn_graph, knn_torch, mean_knn_sigma2

RNG = np.random.default_rng(0)
QUERIES = RNG.standard_normal((300, 16)).astype(np.float32)
DATABASE = RNG.standard_normal((500, 16)).astype(np.float32)


def brute_force(
    queries: np.ndarray, database: np.ndarray | None, k: int, metric: str, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN in float64 numpy, the reference for every backend."""
    base = queries if database is None else database
    q, b = queries.astype(np.float64), base.astype(np.float64)
    if metric == "ip":
        order_key = -(q @ b.T)
    else:
        order_key = ((q[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    if exclude_self:
        np.fill_diagonal(order_key, np.inf)
    indices = np.argsort(order_key, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(order_key, indices, axis=1)
    return (-values if metric == "ip" else values), indices


CASES = [
    pytest.param(metric, database, exclude_self, id=f"{metric}-{'db' if database is not None else 'self'}-{exclude_self}")
    for metric in ("ip", "l2")
    for database, exclude_self in ((DATABASE, False), (None, False), (None, True))
]


def check_against_brute_force(
    result: tuple[np.ndarray, np.ndarray], metric: str, database: np.ndarray | None, exclude_self: bool, k: int
) -> None:
    """Assert that a search of QUERIES returned the exact neighbours with float32/int64 dtypes."""
    values, indices = result
    expected_values, expected_indices = brute_force(QUERIES, database, k, metric, exclude_self)
    assert values.dtype == np.float32 and indices.dtype == np.int64
    assert values.shape == indices.shape == (len(QUERIES), k)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(values, expected_values, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(("metric", "database", "exclude_self"), CASES)
def test_faiss_matches_brute_force(metric: str, database: np.ndarray | None, exclude_self: bool) -> None:
    pytest.importorskip("faiss")
    result = knn(QUERIES, database, 7, metric, exclude_self=exclude_self, backend="faiss", chunk_size=128)
    check_against_brute_force(result, metric, database, exclude_self, 7)


@pytest.mark.parametrize(("metric", "database", "exclude_self"), CASES)
def test_torch_matches_brute_force_and_chunking_changes_nothing(
    metric: str, database: np.ndarray | None, exclude_self: bool
) -> None:
    whole = knn_torch(QUERIES, database, 7, metric, exclude_self=exclude_self)
    check_against_brute_force(whole, metric, database, exclude_self, 7)
    chunked = knn(QUERIES, database, 7, metric, exclude_self=exclude_self, backend="torch", chunk_size=64)
    np.testing.assert_array_equal(chunked[1], whole[1])
    np.testing.assert_array_equal(chunked[0], whole[0])


def test_torch_tensor_inputs_give_the_numpy_result() -> None:
    from_tensor = knn_torch(torch.from_numpy(QUERIES).double(), torch.from_numpy(DATABASE), 5, "l2")
    from_numpy = knn_torch(QUERIES, DATABASE, 5, "l2")
    np.testing.assert_array_equal(from_tensor[1], from_numpy[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_search_runs_on_the_queries_device() -> None:
    check_against_brute_force(knn_torch(torch.from_numpy(QUERIES).cuda(), k=4, metric="l2"), "l2", None, False, 4)


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_exclude_self_removes_the_query_even_among_duplicates(backend: str) -> None:
    if backend == "faiss":
        pytest.importorskip("faiss")
    points = np.array([[0.0], [0.0], [0.0], [5.0]], dtype=np.float32)
    _, indices = knn(points, k=2, metric="l2", exclude_self=True, backend=backend)
    assert all(row not in indices[row] for row in range(3))
    np.testing.assert_array_equal(np.sort(indices[:3], axis=1), [[1, 2], [0, 2], [0, 1]])


def test_auto_backend_without_faiss_warns_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neighbors, "faiss", None)
    with pytest.warns(UserWarning, match="faiss is not installed"):
        result = knn(QUERIES, DATABASE, 3, "ip")
    check_against_brute_force(result, "ip", DATABASE, False, 3)
    with pytest.raises(ClustError):
        knn(QUERIES, DATABASE, 3, backend="faiss")
    with pytest.warns(UserWarning, match="faiss is not installed"):
        assert kmeans(QUERIES, 2, n_iter=5, n_redo=1).labels.shape == (300,)


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_knn_graph_has_k_entries_per_row_and_no_self_loops(backend: str) -> None:
    if backend == "faiss":
        pytest.importorskip("faiss")
    graph = knn_graph(QUERIES, 6, backend=backend)
    assert graph.shape == (300, 300)
    np.testing.assert_array_equal(np.diff(graph.indptr), 6)
    assert not graph.diagonal().any()
    _, indices = brute_force(QUERIES, None, 6, "l2", True)
    for row in (0, 150, 299):
        np.testing.assert_array_equal(graph[row].indices, np.sort(indices[row]))


def test_knn_graph_gaussian_weights_on_four_points() -> None:
    points = np.array([[0.0], [1.0], [3.0], [7.0]], dtype=np.float32)
    # Two nearest squared distances per point: 0 -> {1: 1, 2: 9}, 1 -> {0: 1, 2: 4},
    # 2 -> {1: 4, 0: 9}, 3 -> {2: 16, 1: 36}; their mean is 80 / 8 = 10.
    squared = {(0, 1): 1, (0, 2): 9, (1, 0): 1, (1, 2): 4, (2, 1): 4, (2, 0): 9, (3, 2): 16, (3, 1): 36}
    expected = np.zeros((4, 4))
    for (i, j), d2 in squared.items():
        expected[i, j] = math.exp(-d2 / 10)
    graph = knn_graph(points, 2, weight="gaussian", backend="torch")
    np.testing.assert_allclose(graph.toarray(), expected, rtol=1e-6)
    distances = knn_graph(points, 2, backend="torch").toarray()
    assert mean_knn_sigma2(distances[distances > 0]) == pytest.approx(10.0)
    fixed = knn_graph(points, 2, weight="gaussian", sigma2=2.0, backend="torch").toarray()
    assert fixed[3, 2] == pytest.approx(math.exp(-8.0))


def test_sigma2_heuristic_is_the_mean_squared_knn_distance() -> None:
    assert mean_knn_sigma2(np.array([[1.0, 3.0], [2.0, 6.0]])) == pytest.approx(3.0)
    with pytest.raises(ClustError):
        mean_knn_sigma2(np.zeros((3, 2)))


def blobs(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Three unit-variance Gaussian blobs of 60 points around ``centres``."""
    rng = np.random.default_rng(1)
    truth = np.repeat(np.arange(3), 60)
    return (centres[truth] + rng.standard_normal((180, 3))).astype(np.float32), truth


@pytest.mark.parametrize("backend", ["sklearn", "faiss"])
def test_kmeans_recovers_separated_blobs_deterministically(backend: str) -> None:
    if backend == "faiss":
        pytest.importorskip("faiss")
    features, truth = blobs(np.array([[0.0, 0.0, 0.0], [20.0, 0.0, 0.0], [0.0, 20.0, 20.0]]))
    first = kmeans(features, 3, n_iter=20, n_redo=2, seed=3, backend=backend)
    second = kmeans(features, 3, n_iter=20, n_redo=2, seed=3, backend=backend)
    assert cluster_accuracy(truth, first.labels) == 1.0
    assert first.labels.dtype == np.int64 and first.centroids.dtype == np.float32
    assert first.centroids.shape == (3, 3) and first.distances.shape == (180,)
    expected = ((features - first.centroids[first.labels]) ** 2).sum(axis=1)
    np.testing.assert_allclose(first.distances, expected, rtol=1e-5)
    assert first.inertia == pytest.approx(float(expected.sum()), rel=1e-5)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.centroids, second.centroids)


@pytest.mark.parametrize("backend", ["sklearn", "faiss"])
def test_spherical_kmeans_returns_unit_centroids(backend: str) -> None:
    if backend == "faiss":
        pytest.importorskip("faiss")
    features, truth = blobs(20.0 * np.eye(3))
    result = kmeans(features, 3, n_iter=20, n_redo=2, spherical=True, backend=backend)
    np.testing.assert_allclose(np.linalg.norm(result.centroids, axis=1), 1.0, rtol=1e-5)
    assert cluster_accuracy(truth, result.labels) == 1.0


def test_errors_raise_clust_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ClustError):
            knn(QUERIES, DATABASE, 501)
        with pytest.raises(ClustError):
            knn(QUERIES, k=300, exclude_self=True)
        with pytest.raises(ClustError):
            knn_torch(QUERIES, k=0)
        with pytest.raises(ClustError):
            knn(QUERIES, DATABASE[:, :8], 3)
        with pytest.raises(ClustError):
            knn(QUERIES, k=3, metric="cosine")
        with pytest.raises(ClustError):
            knn_graph(QUERIES, 3, metric="ip", weight="gaussian")
        with pytest.raises(ClustError):
            kmeans(QUERIES, 301)
        with pytest.raises(ClustError):
            kmeans(QUERIES, 0)


def test_default_chunks_keep_one_score_matrix_within_the_budget() -> None:
    rows = neighbors._chunk_rows(None, 70_000)
    assert rows * 70_000 * 4 <= neighbors.SCORE_BUDGET_BYTES < (rows + 1) * 70_000 * 4
    assert neighbors._chunk_rows(None, 10) == 4096 and neighbors._chunk_rows(7, 10) == 7
