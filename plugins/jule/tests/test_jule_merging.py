"""Merge criterion (eq. 7), exact and fast affinity updates (eqs. 13-14, 21), agglomeration alone."""
import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import load_digits, make_blobs

from clust_core.metrics import evaluate
from clust_jule.affinity import unnormalised_affinity
from clust_jule.criterion import merge_score
from clust_jule.graph import knn_distances, l2_normalize, sample_graph
from clust_jule.merging import ClusterGraph
from clust_jule.process import recluster, schedule


def _graph(seed=0, n=80, clusters=12, **kw):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    w = sample_graph(knn_distances(l2_normalize(x), 8))
    return w, ClusterGraph(w, rng.permutation(np.arange(n) % clusters), x, **kw)


def _check_against_scratch(w, g):
    ids = np.unique(g.labels)
    u = unnormalised_affinity(w, np.searchsorted(ids, g.labels), len(ids)).toarray()
    for p, x in enumerate(ids):
        for q, i in enumerate(ids):
            if p != q:
                assert np.isclose(g.row(x).get(i, (0.0, 0.0))[0], u[p, q], atol=1e-12)   # U(x, i) in x's row
                assert np.isclose(g.row(i).get(x, (0.0, 0.0))[1], u[p, q], atol=1e-12)   # and in i's row


def test_exact_update_equals_recomputation_from_scratch():
    w, g = _graph()
    for _ in range(8):
        g.step()
        _check_against_scratch(w, g)
    assert g.n_clusters == 4


def test_fast_update_is_eq21():
    _, g = _graph(update="fast", alpha=0.1)
    x, _ = g.best()
    y = g.neighbours(x)[0][0]
    out = {c: {i: o for i, (o, _) in g.row(c).items() if o > 0} for c in (x, y)}
    before = {i: (out[x].get(i, 0.0), out[y].get(i, 0.0)) for i in set(out[x]) | set(out[y])}
    kept, _ = g.merge(x, y)
    for i, (ux, uy) in before.items():
        if i not in (x, y):
            assert np.isclose(g.row(kept)[i][0], 1.1 * (ux + uy))   # U(m∪n,i) = (1+α)(U(m,i)+U(n,i))


@pytest.mark.parametrize("alpha", [-0.2, 0.0, 0.1])
def test_fast_update_within_paper_range_keeps_quality(alpha):
    # appendix A.2 / Fig. 4: α in [−0.2, 0.1] gives NMI close to the exact update
    digits = load_digits()
    exact = evaluate(digits.target, recluster(digits.data, 10, eta=0.9, update="exact"))["nmi"]
    fast = evaluate(digits.target, recluster(digits.data, 10, eta=0.9, update="fast", alpha=alpha))["nmi"]
    assert exact > 0.85 and abs(fast - exact) < 0.05


def test_criterion_prefers_isolated_pair_over_dense_region():
    # paper Fig. 3: nodes 0-4 form a dense region (0-1 the closest pair), 5-6 an isolated pair
    w = np.zeros((7, 7))
    w[:5, :5] = 0.9
    w[0, 1] = w[1, 0] = 0.95
    w[5, 6] = w[6, 5] = 0.9
    np.fill_diagonal(w, 0)
    w = scipy.sparse.csr_matrix(w)
    feats = np.zeros((7, 2))
    with_term = ClusterGraph(w, np.arange(7), feats, k_c=5, lam=1.0)
    plain = ClusterGraph(w, np.arange(7), feats, k_c=5, lam=0.0)
    assert with_term.best()[0] in (5, 6)
    assert plain.best()[0] in (0, 1)
    # eq. 7 by hand for node 0: A = 2·.95², 2·.9² (×3), then 0
    a1, a2 = 2 * 0.95 ** 2, 2 * 0.81
    assert np.isclose(merge_score(np.array([a1, a2, a2, a2]), 5, 1.0), a1 + (3 * (a1 - a2) + a1) / 4)


def test_agglomeration_alone_recovers_separated_blobs():
    x, y = make_blobs(1500, n_features=8, centers=6, cluster_std=0.6, random_state=3)
    labels = recluster(x, 6, eta=0.9)
    assert evaluate(y, labels)["nmi"] == pytest.approx(1.0)


def test_unrolling_schedule():
    # paper §3.6: n_p = ceil(η·n_c^s) merges per period, η = 0.9 (Table 2), down to n_c*: 1762 → 176 → 17 → 10
    assert schedule(1762, 10, 0.9) == [176, 17, 10]
