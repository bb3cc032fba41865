"""FixMatch (SPICE §III-C, eqs. 8-9): the tau mask, the labelled stream, gradients, the double-softmax form on SPICE's
softmax head, and a few descending steps."""
import math

import pytest
import torch
import torch.nn.functional as F

from clust_core.components import BuildContext, Supervision
from clust_spice.fixmatch import FixMatch
from clust_spice.heads import JointNetwork

CTX = BuildContext(shape=(1, 8, 8), k=2, n=4, dataset="x")
# With K = 2, max softmax = sigmoid(margin): 0.95 is reached at margin log 19 = 2.944.
WEAK = torch.tensor([[0.0, 1.0],    # labelled row
                     [3.0, 0.0],    # sigmoid(3.0) = 0.9526: kept, pseudo-label 0
                     [0.0, 2.9],    # sigmoid(2.9) = 0.9478: dropped
                     [0.0, 3.0]])   # kept, pseudo-label 1
STRONG = torch.tensor([[5.0, -5.0], [0.5, 0.0], [1.0, 0.0], [0.2, 0.4]])
SUPERVISION = Supervision(labels=torch.tensor([1, -1, -1, -1]), mask=torch.tensor([True, False, False, False]))
VIEWS = [{"logits": WEAK}, {"logits": STRONG}]


def _ce(logits: list[float], c: int) -> float:
    return -math.log(math.exp(logits[c]) / sum(math.exp(v) for v in logits))


def test_value_by_hand_and_mask_rate():
    loss = FixMatch(CTX, double_softmax=False)
    value = loss(VIEWS, SUPERVISION)
    supervised = _ce([0.0, 1.0], 1)
    unlabelled = (_ce([0.5, 0.0], 0) + _ce([0.2, 0.4], 1)) / 3  # mean over the 3 unlabelled rows
    assert value.item() == pytest.approx(supervised + unlabelled, rel=1e-6)
    assert loss.mask_rate == pytest.approx(2 / 3)
    half = FixMatch(CTX, unlabelled_weight=0.5, double_softmax=False)(VIEWS, SUPERVISION)
    assert half.item() == pytest.approx(supervised + 0.5 * unlabelled, rel=1e-6)
    assert FixMatch(CTX, threshold=0.9, double_softmax=False)(VIEWS, SUPERVISION).item() == pytest.approx(
        supervised + (_ce([0.5, 0.0], 0) + _ce([1.0, 0.0], 1) + _ce([0.2, 0.4], 1)) / 3, rel=1e-6)


def test_labelled_term_only_on_mask_rows_and_no_gradient_through_pseudo_labels():
    weak, strong = WEAK.clone().requires_grad_(), STRONG.clone().requires_grad_()
    FixMatch(CTX, double_softmax=False)([{"logits": weak}, {"logits": strong}], SUPERVISION).backward()
    assert weak.grad[0].abs().sum() > 0 and weak.grad[1:].abs().sum() == 0      # pseudo-labels are detached
    assert strong.grad[0].abs().sum() == 0 and strong.grad[2].abs().sum() == 0  # labelled row / dropped row
    assert strong.grad[1].abs().sum() > 0 and strong.grad[3].abs().sum() > 0
    relabelled = Supervision(labels=torch.tensor([1, 0, 1, 0]), mask=SUPERVISION.mask)  # labels off the mask ignored
    assert FixMatch(CTX, double_softmax=False)(VIEWS, relabelled).item() == pytest.approx(
        FixMatch(CTX, double_softmax=False)(VIEWS, SUPERVISION).item())


def test_empty_streams():
    all_labelled = Supervision(labels=torch.tensor([1, 0, 1, 1]), mask=torch.ones(4, dtype=torch.bool))
    loss = FixMatch(CTX, double_softmax=False)
    value = loss(VIEWS, all_labelled)
    assert value.item() == pytest.approx(F.cross_entropy(WEAK, all_labelled.labels).item())
    assert math.isnan(loss.mask_rate)
    none_labelled = Supervision(labels=torch.full((4,), -1), mask=torch.zeros(4, dtype=torch.bool))
    value = loss(VIEWS, none_labelled)
    assert value.item() == pytest.approx((_ce([0.5, 0.0], 0) + _ce([0.2, 0.4], 1)) / 4, rel=1e-6)
    assert loss.mask_rate == pytest.approx(0.5)


def test_double_softmax_form_thresholds_the_heads_probability():
    weak = WEAK.softmax(dim=1)    # a softmax head's output: max probabilities 0.73, 0.953, 0.948, 0.953
    strong = STRONG.softmax(dim=1)
    loss = FixMatch(CTX)
    value = loss([{"probs": weak}, {"probs": strong}], SUPERVISION)
    supervised = _ce(weak[0].tolist(), 1)
    unlabelled = (_ce(strong[1].tolist(), 0) + _ce(strong[3].tolist(), 1)) / 3
    assert value.item() == pytest.approx(supervised + unlabelled, rel=1e-6)
    assert loss.mask_rate == pytest.approx(2 / 3)


def _train(loss: FixMatch) -> list[float]:
    """20 Nesterov SGD steps (the solver of SPICE's tools/train_semi.py) of a JointNetwork on a toy 2-class
    problem, 8 of 32 labelled."""
    torch.manual_seed(0)
    ctx = BuildContext(shape=(1, 8, 8), k=2, n=32, dataset="x")
    net = JointNetwork(ctx, backbone="convnet_small")
    labels = torch.arange(32) % 2
    images = torch.rand(32, 1, 8, 8) * 0.5 + 0.5 * labels[:, None, None, None]
    supervision = Supervision(labels=labels.masked_fill(torch.arange(32) >= 8, -1), mask=torch.arange(32) < 8)
    opt = torch.optim.SGD(net.parameters(), lr=0.03, momentum=0.9, nesterov=True)
    values = []
    for _ in range(20):
        strong = (images + 0.1 * torch.randn_like(images)).clamp(0, 1)
        value = loss([net(images), net(strong)], supervision)
        opt.zero_grad()
        value.backward()
        opt.step()
        net.after_step()
        values.append(value.item())
    return values


def test_loss_decreases_when_training_the_network():
    values = _train(FixMatch(BuildContext(shape=(1, 8, 8), k=2, n=32, dataset="x"), threshold=0.7,
                             double_softmax=False))
    assert values[-1] < 0.5 * values[0]


def test_double_softmax_loss_decreases():
    values = _train(FixMatch(BuildContext(shape=(1, 8, 8), k=2, n=32, dataset="x"), threshold=0.7))
    assert values[-1] < values[0] - 0.05  # bounded below by -log(e / (e + 1)) = 0.31 per term at K = 2


def test_the_mask_rate_reaches_the_metrics_channel():
    logged: list[tuple[str, float]] = []
    loss = FixMatch(BuildContext(shape=(1, 8, 8), k=2, n=4, dataset="x", log=lambda n, v: logged.append((n, float(v)))),
                    double_softmax=False)
    loss(VIEWS, SUPERVISION)
    assert logged == [("mask_rate", pytest.approx(2 / 3))] and loss.mask_rate == pytest.approx(2 / 3)
