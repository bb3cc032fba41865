"""Pair sampling from the pseudo-graph and the JSD MI estimator (eqs. 13-14)."""
import math

import torch

from clust_core.components import BuildContext, Supervision
from clust_dccm.mutual_info import LocalDiscriminator, TripletMI, jsd_mi, sample_pairs


def _graph(groups):
    g = torch.tensor(groups)
    return g[:, None] == g[None, :]


def test_pairs_follow_the_graph():
    torch.manual_seed(0)
    w = _graph([0, 0, 0, 1, 1, 2, 3, 3])  # sample 5 has no positive
    for _ in range(20):
        p = sample_pairs(w, negatives=2)
        b = len(w)
        assert p.joint_anchor[:b].tolist() == list(range(b)) and p.joint_other[:b].tolist() == list(range(b))
        pos_a, pos_o = p.joint_anchor[b:], p.joint_other[b:]
        assert sorted(pos_a.tolist()) == [0, 1, 2, 3, 4, 6, 7]           # every anchor that has a positive
        assert bool(w[pos_a, pos_o].all()) and bool((pos_a != pos_o).all())  # a real W = 1 neighbour, not itself
        assert not bool(w[p.marginal_anchor, p.marginal_other].any())       # negatives have W = 0 (so never self)
        assert torch.bincount(p.marginal_anchor, minlength=b).tolist() == [2] * b


def test_positives_are_drawn_uniformly_and_nearest_is_the_most_similar():
    torch.manual_seed(0)
    w = _graph([0, 0, 0, 0])
    picks = torch.stack([sample_pairs(w).joint_other[4] for _ in range(300)])  # anchor 0's positive
    counts = torch.bincount(picks, minlength=4).tolist()
    assert counts[0] == 0 and min(counts[1:]) > 70
    similarity = torch.tensor([[1.0, 0.2, 0.9, 0.5]] * 4)
    assert sample_pairs(w, similarity=similarity).joint_other[4].item() == 2


def test_negatives_are_capped_by_what_exists():
    w = _graph([0, 0, 0, 1])
    p = sample_pairs(w, negatives=2)
    assert torch.bincount(p.marginal_anchor, minlength=4).tolist() == [1, 1, 1, 2]


def test_jsd_estimator_value_and_sign():
    zero = torch.zeros(5)
    assert math.isclose(jsd_mi(zero, zero).item(), -2 * math.log(2), rel_tol=1e-6)  # identical: the minimum
    separable = jsd_mi(torch.full((5,), 20.0), torch.full((5,), -20.0)).item()
    assert -1e-6 < separable <= 0 and separable > jsd_mi(zero, zero).item()
    assert jsd_mi(torch.full((5,), -3.0), torch.full((5,), 3.0)) < -2 * math.log(2)  # swapped: worse than chance


def test_discriminator_first_layer_equals_the_concatenation():
    torch.manual_seed(0)
    d = LocalDiscriminator(3, 2, hidden=8)
    shallow, deep = torch.randn(4, 3, 5, 5), torch.randn(4, 2)
    anchor, other = torch.tensor([0, 1, 2]), torch.tensor([3, 1, 0])
    tiled = deep[anchor][:, :, None, None].expand(-1, -1, 5, 5)
    expected = d.rest(d.first(torch.cat([shallow[other], tiled], dim=1)))
    assert torch.allclose(d(shallow, deep, anchor, other), expected, atol=1e-5)


def test_mi_loss_decreases():
    torch.manual_seed(0)
    ctx = BuildContext(shape=(1, 8, 8), k=4, n=8, dataset="x")
    loss = TripletMI(ctx, hidden=32)
    shallow = torch.randn(8, 64, 8, 8, requires_grad=True)
    deep = torch.randn(8, 64, requires_grad=True)
    sup = Supervision(pairs=_graph([0, 0, 1, 1, 2, 2, 3, 3]))
    opt = torch.optim.Adam([shallow, deep, *loss.parameters()], lr=1e-2)
    values = []
    for _ in range(40):
        value = loss([{"shallow": shallow, "deep": deep}], sup)
        opt.zero_grad()
        value.backward()
        opt.step()
        values.append(value.item())
    assert values[-1] < values[0] - 0.3
