"""Pseudo-graph and pseudo-label losses: hand-computed values and a few descending steps."""
import math

import pytest
import torch

from clust_core.components import BuildContext, Supervision
from clust_dccm.losses import GraphLoss, LabelLoss, graph_loss, label_loss
from clust_dccm.networks import build

TWO = torch.tensor([[0.6, 0.8], [0.8, 0.6]])  # unit rows, cosine 0.96


def test_graph_loss_by_hand():
    separate = torch.eye(2, dtype=torch.bool)
    assert math.isclose(graph_loss(TWO, separate).item(), 2 * -math.log(0.04) / 4, rel_tol=1e-5)
    together = torch.ones(2, 2, dtype=torch.bool)
    assert math.isclose(graph_loss(TWO, together).item(), 2 * -math.log(0.96) / 4, rel_tol=1e-5)
    assert graph_loss(TWO / 3, together).item() == pytest.approx(graph_loss(TWO, together).item(), rel=1e-4)  # cosine: scale-free


def test_label_loss_by_hand():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    labels, mask = torch.tensor([0, 2]), torch.tensor([True, False])
    assert math.isclose(label_loss(probs, labels, mask, "ce").item(), -math.log(0.7) / 2, rel_tol=1e-5)
    bce = -(math.log(0.7) + math.log(0.8) + math.log(0.9)) / 3 / 2
    assert math.isclose(label_loss(probs, labels, mask, "bce").item(), bce, rel_tol=1e-5)
    assert label_loss(probs, labels, torch.tensor([False, False])).item() == 0.0


def test_losses_have_finite_gradients_on_one_hot_predictions():
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    value = graph_loss(probs, torch.ones(3, 3, dtype=torch.bool)) + label_loss(probs, torch.tensor([1, 0, 1]),
                                                                             torch.ones(3, dtype=torch.bool))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(probs.grad).all()


@pytest.mark.parametrize("make, supervision", [
    (lambda ctx: GraphLoss(ctx), Supervision(pairs=torch.arange(16)[:, None] % 4 == torch.arange(16)[None, :] % 4)),
    (lambda ctx: LabelLoss(ctx), Supervision(labels=torch.arange(16) % 4, mask=torch.arange(16) % 3 > 0)),
    (lambda ctx: LabelLoss(ctx, form="bce"), Supervision(labels=torch.arange(16) % 4, mask=torch.ones(16, dtype=torch.bool))),
])
def test_loss_decreases_when_training_the_network(make, supervision):
    torch.manual_seed(0)
    ctx = BuildContext(shape=(1, 8, 8), k=4, n=16, dataset="x")
    net, loss = build(ctx, "net_small"), make(ctx)
    images = torch.rand(16, 1, 8, 8)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9)
    values = []
    for _ in range(15):
        value = loss([net(images)], supervision)
        opt.zero_grad()
        value.backward()
        opt.step()
        values.append(value.item())
    assert values[-1] < 0.7 * values[0]
