"""Weighted triplet loss (eqs. 10-11) and the Torch hinge variant: values, gradients, descent."""
import pytest
import torch

from clust_core.components import BuildContext, Supervision
from clust_core.testing import tiny_imageset
from clust_jule.network import JuleCNN
from clust_jule.triplet import TripletLoss, hinge_triplet_loss, weighted_triplet_loss


def test_paper_form_value_and_gradient():
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1])
    loss = weighted_triplet_loss(x, labels, gamma=2.0, lam=1.0, k_c=5)
    # one pair (0, 1), one negative (2): λ/(K_c−1)·(γ‖x0−x1‖² − ‖x0−x2‖²) = (2·0.8 − 4)/4
    assert loss.item() == pytest.approx(-0.6)
    loss.backward()
    expected = torch.tensor([[-0.6, -0.8], [-0.4, 0.8], [1.0, 0.0]])
    assert torch.allclose(x.grad, expected, atol=1e-6)


def test_paper_form_takes_the_kc_nearest_other_cluster_negatives():
    x = torch.tensor([[0.0], [0.1], [1.0], [2.0], [3.0]])
    labels = torch.tensor([0, 0, 1, 2, 3])
    # K_c = 2: negatives of anchor 0 are samples 2 and 3 (distances 1, 4), not 4
    value = weighted_triplet_loss(x, labels, gamma=2.0, lam=1.0, k_c=2)
    assert value.item() == pytest.approx((2 * 0.01 - 1) + (2 * 0.01 - 4))


def test_hinge_form_value_and_correct_gradient():
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, -0.6]], requires_grad=True)
    loss = hinge_triplet_loss(x, torch.tensor([0, 0, 1]), gamma=1.0, margin=0.2, negatives=20)
    assert loss.item() == pytest.approx(0.8 - 0.4 + 0.2)
    loss.backward()
    # d/dx0 = 2(x0 − p) − 2(x0 − n) = 2(n − p); not the in-place-scaled version of the Torch CUDA kernel
    # (TripletEmbedding.lua updateGradInput, https://github.com/jwyang/JULE.torch)
    assert torch.allclose(x.grad[0], torch.tensor([0.4, -2.8]), atol=1e-6)
    assert torch.allclose(x.grad[2], 2 * (x[0] - x[2]).detach(), atol=1e-6)


def test_no_positive_pair_gives_zero_with_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    loss = weighted_triplet_loss(x, torch.arange(4))
    assert loss.item() == 0.0 and loss.requires_grad


@pytest.mark.parametrize("form", ["paper", "hinge"])
def test_loss_decreases_when_training_the_cnn(form):
    torch.manual_seed(0)
    images = tiny_imageset(48, (1, 16, 16), k=4)
    ctx = BuildContext(shape=(1, 16, 16), k=4, n=48, dataset="tiny")
    net, loss_fn = JuleCNN(ctx), TripletLoss(ctx, form=form)
    batch = torch.from_numpy(images.images).permute(0, 3, 1, 2).float() / 255
    labels = torch.arange(48) % 4   # clusters unrelated to the image patterns: every form has work to do
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    values = []
    for _ in range(15):
        loss = loss_fn([net(batch)], Supervision(labels=labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        values.append(loss.item())
    assert values[-1] < values[0] - 0.1
