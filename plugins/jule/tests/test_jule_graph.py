"""The sample graph (eq. 4), GDL affinity (eq. 12) and the 1-NN chain initialisation."""
import numpy as np
import scipy.sparse

from clust_jule.affinity import cluster_affinity, unnormalised_affinity
from clust_jule.graph import chain_init, knn_distances, sample_graph


def test_sample_graph_has_ks_directed_rows_and_mean_bandwidth():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    d = knn_distances(x, 5)
    w = sample_graph(d, a=1.0)
    assert (np.diff(w.indptr) == 5).all() and w.diagonal().sum() == 0
    full = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(full, np.inf)
    nearest = np.sort(full, axis=1)[:, :5]
    sigma2 = nearest.mean()                        # σ² = mean squared kNN distance (a = 1)
    i, j = 7, int(np.argsort(full[7])[2])
    assert np.isclose(w[i, j], np.exp(-full[i, j] / sigma2), rtol=1e-4)
    assert np.isclose(sample_graph(d, a=2.0)[i, j], np.exp(-full[i, j] / (2 * sigma2)), rtol=1e-4)
    assert (w != w.T).nnz > 0                      # directed, not symmetrised


def test_gdl_affinity_on_hand_computed_graph():
    # W[0,1]=.5, W[1,0]=.4, W[1,2]=.3, W[2,0]=.2; clusters C0={0}, C1={1,2}
    w = scipy.sparse.csr_matrix(np.array([[0, .5, 0], [.4, 0, .3], [.2, 0, 0]]))
    labels = np.array([0, 1, 1])
    u = unnormalised_affinity(w, labels, 2).toarray()
    # U(0,1) = 1ᵀW_{C0,C1}W_{C1,C0}1 = .5·.4 + 0·.2 = .2 ; U(1,0) = 1ᵀW_{C1,C0}W_{C0,C1}1 = (.4+.2)·(.5+0) = .3
    assert np.isclose(u[0, 1], 0.2) and np.isclose(u[1, 0], 0.3)
    a = cluster_affinity(scipy.sparse.csr_matrix(u), np.array([1, 2])).toarray()
    # A(C1→C0) = .2/1², A(C0→C1) = .3/2², symmetric sum .275
    assert np.allclose(a, [[0, 0.275], [0.275, 0]])


def test_gdl_affinity_matches_definition_on_random_clusters():
    rng = np.random.default_rng(1)
    w = sample_graph(knn_distances(rng.normal(size=(40, 4)), 6)).toarray()
    labels = rng.integers(0, 6, 40)
    u = unnormalised_affinity(scipy.sparse.csr_matrix(w), labels, 6).toarray()
    for x in range(6):
        for i in range(6):
            cx, ci = labels == x, labels == i
            incoming, outgoing = w[np.ix_(cx, ci)].sum(0), w[np.ix_(ci, cx)].sum(1)
            assert np.isclose(u[x, i], (incoming * outgoing).sum())


def test_chain_init_follows_nearest_neighbour_chains():
    # 1-D points: 0 → 1 ← 2 ← 3 is one chain; 10, 10.5 a pair; 20, 20.2, 21 another chain
    x = np.array([0.0, 0.9, 1.6, 3.0, 10.0, 10.5, 20.0, 20.2, 21.0])[:, None]
    labels = chain_init(knn_distances(x, 2))
    groups = {frozenset(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    assert groups == {frozenset({0, 1, 2, 3}), frozenset({4, 5}), frozenset({6, 7, 8})}
