"""Reliable labels (eq. 6): consistency ratios on a hand-made kNN, the confidence and balancing switches."""
import math

import pytest
import torch

from clust_core.components import BuildContext
from clust_spice.reliable import ReliableLabeler, reliable_labels

ANGLES = torch.tensor([0.0, 10.0, 20.0, 90.0, 100.0, 110.0]) * math.pi / 180
# Two groups on the unit circle; the second point of each is made 5x longer (cosine similarity ignores it).
EMBEDDING = torch.stack([ANGLES.cos(), ANGLES.sin()], dim=1) * torch.tensor([1, 5, 1, 1, 5, 1.0])[:, None]
LABELS = torch.tensor([0, 0, 1, 1, 1, 1])
CONFIDENCE = torch.tensor([0.999, 0.995, 0.9, 0.995, 0.98, 0.999])


def _probs() -> torch.Tensor:
    probs = torch.zeros(6, 2)
    probs[torch.arange(6), LABELS] = CONFIDENCE
    probs[torch.arange(6), 1 - LABELS] = 1 - CONFIDENCE
    return probs


def test_consistency_ratio_by_hand():
    # 3 neighbours including self: point 0 -> {0, 1, 2}, labels 0 0 1 -> r = 2/3; point 1 -> {1, 0, 2}: 2/3;
    # point 2 -> {2, 1, 0}: its label 1 once -> 1/3; points 3-5 -> {3, 4, 5}: all 1 -> r = 1.
    labels, mask = reliable_labels(_probs(), EMBEDDING, neighbors=3, ratio=0.6)
    assert labels.tolist() == LABELS.tolist() and labels.dtype == torch.int64
    assert mask.tolist() == [True, True, False, True, True, True]
    at_two_thirds = reliable_labels(_probs(), EMBEDDING, neighbors=3, ratio=2 / 3)[1]  # r_i >= ratio
    assert at_two_thirds.tolist() == [True, True, False, True, True, True]
    strict = reliable_labels(_probs(), EMBEDDING, neighbors=3, ratio=0.9)[1]
    assert strict.tolist() == [False, False, False, True, True, True]


def test_neighbours_are_capped_at_n():
    # 100 neighbours of 6 points = all of them: r = 2/6 for label 0, 4/6 for label 1.
    _, mask = reliable_labels(_probs(), EMBEDDING, neighbors=100, ratio=0.5)
    assert mask.tolist() == [False, False, True, True, True, True]


def test_min_confidence_switch():
    _, mask = reliable_labels(_probs(), EMBEDDING, neighbors=3, ratio=0.6, min_confidence=0.99)
    assert mask.tolist() == [True, True, False, True, False, True]  # point 4 has max prob 0.98


def test_balance_switch():
    labels, mask = reliable_labels(_probs(), EMBEDDING, neighbors=3, ratio=0.6, balance=True)
    assert mask[:3].tolist() == [True, True, False]    # cluster 0 keeps its 2 reliable points
    assert mask[3:].sum() == 2                          # cluster 1 is sub-sampled from 3 to 2
    draws = {tuple(reliable_labels(_probs(), EMBEDDING, neighbors=3, ratio=0.6, balance=True, seed=s)[1].tolist())
             for s in range(20)}
    assert len(draws) > 1                               # the draw is random, by seed
    _, none = reliable_labels(_probs(), EMBEDDING, neighbors=3, ratio=0.9, balance=True)
    assert not none.any()                               # cluster 0 has no reliable point: min size 0 (as the code)


def test_labeler_reports_the_reliable_fraction():
    labeler = ReliableLabeler(BuildContext(shape=(1, 8, 8), k=2, n=6, dataset="x"), neighbors=3, ratio=0.6)
    supervision = labeler({"probs": _probs(), "embedding": EMBEDDING})
    assert supervision.labels.tolist() == LABELS.tolist()
    assert supervision.mask.tolist() == [True, True, False, True, True, True]
    assert labeler.reliable_fraction == pytest.approx(5 / 6)


def test_the_reliable_fraction_reaches_the_metrics_channel():
    logged: list[tuple[str, float]] = []
    ctx = BuildContext(shape=(1, 8, 8), k=2, n=6, dataset="x", log=lambda name, value: logged.append((name, value)))
    ReliableLabeler(ctx, neighbors=3, ratio=0.6)({"probs": _probs(), "embedding": EMBEDDING})
    assert logged == [("reliable_fraction", pytest.approx(5 / 6))]
