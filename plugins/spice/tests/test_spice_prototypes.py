"""Prototype pseudo-labelling (eqs. 2-4) on hand-made toy batches."""
import pytest
import torch

from clust_core.components import BuildContext
from clust_core.errors import ClustError
from clust_spice.prototypes import PrototypeLabeler, prototype_targets

# Eight samples, two clusters: B / K = 4 labels per cluster, M = int(0.5 * 8 / 2) = 2 prototype members.
EMBEDDING = torch.tensor([[1.0, 0.0], [0.8, 0.2], [0.6, 0.6], [0.7, 0.1],
                          [0.1, 0.5], [0.2, 0.7], [0.0, 1.0], [0.2, 0.8]])
P0 = torch.tensor([0.9, 0.8, 0.5, 0.4, 0.6, 0.3, 0.1, 0.2])
PROBS = torch.stack([P0, 1 - P0], dim=1)
# Top 2 by P[:, 0] = {0, 1}: mu_0 = (0.9, 0.1); scores 0.90 .74 .60 .64 .14 .25 .10 .26 -> top 4 = {0, 1, 2, 3}.
# Top 2 by P[:, 1] = {6, 7}: mu_1 = (0.1, 0.9); scores 0.10 .26 .60 .16 .46 .65 .90 .74 -> top 4 = {2, 5, 6, 7}.
EXPECTED = torch.tensor([[1, 0], [1, 0], [1, 1], [1, 0], [0, 0], [0, 1], [0, 1], [0, 1]], dtype=torch.float32)


def test_targets_by_hand_with_overlap():
    targets = prototype_targets(PROBS, EMBEDDING)
    assert torch.equal(targets, EXPECTED)
    assert targets.sum(dim=0).tolist() == [4.0, 4.0]  # exactly B / K per cluster
    assert targets[2].tolist() == [1.0, 1.0] and targets[4].sum() == 0  # sample 2 has both labels, sample 4 none


def test_prototype_uses_only_the_top_m_samples():
    # B = 4, K = 2. Sample 1 is second by P[:, 0] but embeds far along y (a decoy).
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    embedding = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.6, 0.3], [0.0, 1.0]])
    # center_ratio 0.5: M = 1, mu_0 = e_0 = (1, 0) -> scores 1, 0, .6, 0 -> {0, 2};
    # mu_1 = e_3 = (0, 1) -> scores 0, 2, .3, 1 -> {1, 3}.
    assert prototype_targets(probs, embedding, 0.5)[:, 0].tolist() == [1, 0, 1, 0]
    assert prototype_targets(probs, embedding, 0.5)[:, 1].tolist() == [0, 1, 0, 1]
    # center_ratio 1: M = 2 takes the decoy in: mu_0 = (0.5, 1) -> scores .5, 2, .6, 1 -> {1, 3}.
    assert prototype_targets(probs, embedding, 1.0)[:, 0].tolist() == [0, 1, 0, 1]


def test_heads_are_labelled_independently_and_the_labeler_reads_weak_probs_and_clean_embedding():
    torch.manual_seed(0)
    heads = torch.rand(8, 3, 2).softmax(dim=2)
    heads[:, 1] = PROBS
    targets = prototype_targets(heads, EMBEDDING)
    assert targets.shape == (8, 3, 2)
    for h in range(3):
        assert torch.equal(targets[:, h], prototype_targets(heads[:, h], EMBEDDING))
    assert torch.equal(targets[:, 1], EXPECTED)
    labeler = PrototypeLabeler(BuildContext(shape=(1, 8, 8), k=2, n=8, dataset="x"))
    weak = {"head_probs": heads, "embedding": torch.randn(8, 2)}  # the weak view's embedding must be ignored
    clean = {"head_probs": torch.rand(8, 3, 2), "embedding": EMBEDDING}
    assert torch.equal(labeler([weak, clean]).targets, targets)


def test_too_small_batch_is_a_clear_error():
    with pytest.raises(ClustError, match="at least 20 samples"):
        prototype_targets(torch.rand(19, 10).softmax(dim=1), torch.randn(19, 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_gpu_tensors():
    targets = prototype_targets(PROBS.cuda(), EMBEDDING.cuda())
    assert targets.is_cuda and torch.equal(targets.cpu(), EXPECTED)
