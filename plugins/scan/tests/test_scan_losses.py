"""SCAN's losses against hand-computed values, and that they go down when trained."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from clust_core.components import BuildContext
from clust_scan.losses import ScanLoss, SelfLabelLoss, confidence_ce, entropy, scan_loss

CTX = BuildContext(shape=(1, 8, 8), k=2, n=4, dataset="tiny")


def test_scan_loss_is_eq_2_by_hand() -> None:
    anchors = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    neighbours = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    consistency = -(math.log(0.9 * 0.8 + 0.1 * 0.2) + math.log(0.2 * 0.3 + 0.8 * 0.7)) / 2
    spread = -(0.55 * math.log(0.55) + 0.45 * math.log(0.45))
    total, c, h = scan_loss(anchors, neighbours, entropy_weight=5.0)
    assert c.item() == pytest.approx(consistency) and h.item() == pytest.approx(spread)
    assert total.item() == pytest.approx(consistency - 5.0 * spread)


def test_scan_loss_sums_heads_and_matches_each_head_alone() -> None:
    probs = torch.rand(6, 3, 4).softmax(dim=2)
    other = torch.rand(6, 3, 4).softmax(dim=2)
    loss = ScanLoss(CTX, output="head_probs")([{"head_probs": probs}, {"head_probs": other}], None)
    each = [scan_loss(probs[:, h], other[:, h], 5.0)[0] for h in range(3)]
    assert loss.item() == pytest.approx(sum(each).item(), rel=1e-6)


def test_entropy_floors_zero_probabilities() -> None:
    assert entropy(torch.tensor([1.0, 0.0])).item() == 0.0
    assert entropy(torch.tensor([0.5, 0.5])).item() == pytest.approx(math.log(2))


def test_scan_loss_goes_down_and_pulls_neighbours_together() -> None:
    torch.manual_seed(0)
    x = torch.randn(32, 5)
    pair = torch.roll(torch.arange(32), 1)
    head = torch.nn.Linear(5, 3)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    loss_fn = ScanLoss(CTX)
    values = []
    for _ in range(60):
        probs = head(x).softmax(dim=1)
        loss = loss_fn([{"probs": probs}, {"probs": probs[pair]}], None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        values.append(loss.item())
    assert values[-1] < values[0] - 0.3


def test_confidence_ce_keeps_confident_rows_and_balances_classes_by_hand() -> None:
    weak = torch.tensor([[9.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 9.0, 0.0], [1.0, 1.0, 0.0]])
    strong = torch.tensor([[1.0, 0.5, 0.0], [0.2, 0.1, 0.0], [0.3, 2.0, 0.0], [5.0, 0.0, 0.0]])
    loss, confident = confidence_ce(weak, strong, threshold=0.99, balance=True)
    # rows 0, 1 (class 0) and 2 (class 1) pass 0.99; class weights n / n_c = 3/2 and 3/1, weighted mean
    ce = [-F.log_softmax(strong[i], dim=0)[c].item() for i, c in ((0, 0), (1, 0), (2, 1))]
    expected = (1.5 * ce[0] + 1.5 * ce[1] + 3.0 * ce[2]) / (1.5 + 1.5 + 3.0)
    assert loss.item() == pytest.approx(expected) and confident.item() == pytest.approx(0.75)
    plain, _ = confidence_ce(weak, strong, threshold=0.99, balance=False)
    assert plain.item() == pytest.approx(sum(ce) / 3)
    none, share = confidence_ce(weak, strong, threshold=0.99999999, balance=True)
    assert none.item() == 0.0 and share.item() == 0.0


def test_self_labelling_reads_no_gradient_through_its_targets() -> None:
    weak = torch.tensor([[9.0, 0.0], [0.0, 9.0]], requires_grad=True)
    strong = torch.tensor([[0.0, 1.0], [1.0, 0.0]], requires_grad=True)
    loss = SelfLabelLoss(BuildContext(shape=(1, 8, 8), k=2, n=2, dataset="tiny"))(
        [{"logits": weak, "probs": weak.softmax(dim=1)}, {"logits": strong, "probs": strong.softmax(dim=1)}], None)
    loss.backward()
    assert weak.grad is None and strong.grad is not None and strong.grad.abs().sum() > 0
