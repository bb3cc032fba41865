"""The exact kNN search behind eq. 4: same neighbours as brute force and as FAISS, ties to the lower index."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

from clust_core.neighbors import knn_graph
from clust_jule.graph import l2_normalize
from clust_jule.knn import BLOCK, block_rounds, knn_squared_distances


def _brute_force(x, k):
    d = ((x[:, None, :].astype(np.float64) - x[None].astype(np.float64)) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(len(x)), d.shape), d), axis=1)[:, :k]
    return np.sort(order, axis=1), d


@pytest.mark.parametrize("n, k", [(2, 1), (40, 7), (3 * BLOCK - 200, 20)])
def test_matches_brute_force(n, k):
    x = l2_normalize(np.random.default_rng(n).normal(size=(n, 12)))
    graph = knn_squared_distances(x, k)
    expected, d = _brute_force(x, k)
    assert graph.shape == (n, n) and (np.diff(graph.indptr) == k).all() and graph.dtype == np.float32
    assert (graph.indices.reshape(n, k) == expected).all()                      # columns sorted, same neighbours
    assert np.allclose(graph.data.reshape(n, k), np.take_along_axis(d, expected, axis=1), rtol=1e-6, atol=1e-7)


def test_ties_go_to_the_lower_index():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(150, 6))
    copy = rng.permutation(np.repeat(np.arange(150), 5))   # every point 5 times, shuffled
    graph = knn_squared_distances(points[copy].astype(np.float32), 3)
    for i in range(len(copy)):
        twins = np.flatnonzero(copy == copy[i])
        assert graph.indices[3 * i:3 * i + 3].tolist() == [t for t in twins if t != i][:3]
        assert (graph.data[3 * i:3 * i + 3] == 0).all()


def test_same_neighbours_as_faiss_on_digits():
    x = l2_normalize(load_digits().data)
    ours, theirs = knn_squared_distances(x, 20), knn_graph(x, 20, metric="l2", weight="distance")
    assert (ours.indices == theirs.indices).all()
    assert np.allclose(ours.data, theirs.data, atol=1e-5)


@pytest.mark.parametrize("blocks", [1, 2, 5, 6])
def test_block_rounds_visit_each_pair_once_without_sharing_a_block(blocks):
    rounds = block_rounds(blocks)
    pairs = [pair for pairs in rounds for pair in pairs]
    assert sorted(pairs) == [(i, j) for i in range(blocks) for j in range(i, blocks)]
    for pairs in rounds[1:]:
        used = [block for pair in pairs for block in pair]
        assert len(used) == len(set(used))
