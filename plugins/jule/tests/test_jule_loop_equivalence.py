"""The compiled merge loop makes exactly the merges of the original pure-Python loop (jule_reference_merging)."""
import numpy as np
import pytest
from jule_reference_merging import ReferenceClusterGraph

from clust_jule.graph import chain_init, knn_distances, l2_normalize, sample_graph
from clust_jule.merging import ClusterGraph
from clust_jule.rows import Rows, contract, pack, release, write_row


def _problem(kind):
    rng = np.random.default_rng(7)
    if kind in ("gaussian", "large"):   # 1,500 points in 10-D; "large": 12 random clusters of ~125 points,
        x = rng.normal(size=(1500, 10))  # so that each eq. 14 sum has many terms (summation order matters)
    elif kind == "lattice":     # a 20×20 integer grid of singletons: many exactly equal affinities (ties)
        x = np.stack(np.meshgrid(np.arange(20), np.arange(20)), -1).reshape(-1, 2).astype(float)
    else:                       # 8 far-apart blobs with a sparse graph: no affinity across blobs, nearest-mean merges
        x = rng.normal(size=(800, 3)) * 0.05 + np.repeat(rng.normal(size=(8, 3)) * 50, 100, axis=0)
    features = x if kind == "lattice" else l2_normalize(x)
    distances = knn_distances(features, 4 if kind == "blobs" else 10)
    labels = {"lattice": np.arange(len(x)), "large": rng.permutation(np.arange(len(x)) % 12)}.get(kind)
    labels = chain_init(distances) if labels is None else labels
    return sample_graph(distances), labels, features


def _merge_down(graph, n_merges, batch):
    """Isolated clusters to their nearest mean (as ``merge_period``), then ``n_merges`` merges; the (kept, removed) list."""
    history, removed = [], set()
    for x in graph.isolated()[:n_merges]:
        if x not in removed:
            history.append(tuple(graph.merge(x, graph.nearest_mean(x))))
            removed.add(history[-1][1])
    rest = n_merges - len(history)
    history += [tuple(m) for m in graph.run(rest)] if batch else [graph.step() for _ in range(rest)]
    return history


def _same_state(compiled, reference):
    """Bit-for-bit the same U rows (eqs. 13-14 / 21), K_c lists and eq. 7 argmax."""
    assert compiled.best() == reference.best()
    for x in reference.alive:
        assert {j: o for j, (o, i) in compiled.row(x).items() if o > 0} == reference.out[x]
        assert {j: i for j, (o, i) in compiled.row(x).items() if i > 0} == reference.inc[x]
        assert compiled.neighbours(x) == reference.top[x]


@pytest.mark.parametrize("kind", ["gaussian", "large", "lattice", "blobs"])
@pytest.mark.parametrize("update, alpha", [("exact", 0.0), ("fast", 0.0), ("fast", -0.2)])
def test_compiled_loop_makes_the_reference_merges(kind, update, alpha):
    w, labels, features = _problem(kind)
    compiled = ClusterGraph(w, labels, features, update=update, alpha=alpha)
    reference = ReferenceClusterGraph(w, labels, features, update=update, alpha=alpha)
    _same_state(compiled, reference)
    for n_merges in (int(labels.max()) // 2, int(labels.max()) - int(labels.max()) // 2):   # down to one cluster
        expected = _merge_down(reference, n_merges, batch=False)
        assert _merge_down(compiled, n_merges, batch=True) == expected
        assert (compiled.labels == reference.labels).all()
        _same_state(compiled, reference)
    assert compiled.n_clusters == 1


def test_row_pool_against_dicts():
    # random row rewrites and contractions in a pool that fills up: rows move and the pool is packed many times
    rng = np.random.default_rng(0)
    n = 12
    size = 2 * n * (n - 1) + 1
    rows = Rows(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(size, np.int64),
                np.zeros(size), np.zeros(size), np.zeros(1, np.int64), np.zeros(n, np.int64))
    model = {x: {} for x in range(n)}
    packs = 0
    for _ in range(400):
        out, inc = rng.random(n) * (rng.random(n) < 0.8), rng.random(n) * (rng.random(n) < 0.8)
        end = rows.end[0]
        if rng.random() < 0.4:
            x = int(rng.integers(n))
            keys = rng.choice([j for j in range(n) if j != x], size=int(rng.integers(0, 4)), replace=False)
            release(rows, x)
            write_row(rows, x, keys.astype(np.int64), out, inc)
            model[x] = {int(j): (out[j], inc[j]) for j in keys}
        else:
            a, b = (int(c) for c in rng.choice(n, 2, replace=False))
            keys = np.array([j for j in range(n) if j not in (a, b) and rng.random() < 0.5], dtype=np.int64)
            contract(rows, keys, a, b, out, inc)
            for j in keys.tolist():
                model[j].pop(a, None)
                model[j].pop(b, None)
                if out[j] > 0 or inc[j] > 0:
                    model[j][a] = (out[j], inc[j])
        packs += rows.end[0] < end
        for x in range(n):
            span = slice(rows.start[x], rows.start[x] + rows.length[x])
            assert dict(zip(rows.neighbour[span].tolist(), zip(rows.out[span], rows.inc[span]))) == model[x]
    assert packs > 3
