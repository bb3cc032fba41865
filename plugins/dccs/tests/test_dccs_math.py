"""Prior sampler, gradient penalty, critic objective, MI and KL terms against hand-computed values."""
from __future__ import annotations

import math

import torch
from torch import nn

from clust_core.components import BuildContext
from clust_dccs.invariance import category_kl
from clust_dccs.mutual_info import MutualInfoLoss, jsd_mi_loss
from clust_dccs.prior import critic_objective, gradient_penalty, sample_prior


def test_prior_is_one_hot_uniform_category_and_gaussian_style() -> None:
    z = sample_prior(50_000, 5, 50, 0.1, generator=torch.Generator().manual_seed(0))
    style, category = z[:, :50], z[:, 50:]
    assert z.shape == (50_000, 55)
    assert torch.all(category.sum(1) == 1) and torch.all((category == 0) | (category == 1))
    torch.testing.assert_close(category.mean(0), torch.full((5,), 0.2), atol=0.01, rtol=0)
    assert abs(style.mean().item()) < 1e-3
    assert abs(style.std().item() - 0.1) < 1e-3


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared() -> None:
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))  # ||grad|| = 5 everywhere -> (5 - 1)^2 = 16
    penalty = gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2))
    torch.testing.assert_close(penalty, torch.tensor(16.0))
    penalty.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (3, 4) / 5
    torch.testing.assert_close(critic.weight.grad, torch.tensor([[4.8, 6.4]]))


def test_gradient_penalty_interpolates_per_sample() -> None:
    def critic(z):  # C(z) = sum z^2 -> grad 2 z^
        return z.pow(2).sum(1, keepdim=True)
    real = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    fake = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    alpha = torch.tensor([0.5, 0.25])
    # z^ = (0.5, 0), (1.5, 0); grads (1, 0), (3, 0); penalties 0 and 4
    torch.testing.assert_close(gradient_penalty(critic, real, fake, alpha), torch.tensor(2.0))


def test_critic_objective_is_eq_11() -> None:
    value = critic_objective(torch.tensor([2.0, 4.0]), torch.tensor([1.0, 0.0]), torch.tensor(0.5), 10.0)
    torch.testing.assert_close(value, torch.tensor(0.5 - 3.0 + 5.0))


def test_jsd_mi_loss_is_eq_6_and_the_code_variant_is_half() -> None:
    positive, negative = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0])
    expected = -(0.5 * (math.log(0.5) + math.log(1 / (1 + math.exp(-2))))
                 + 0.5 * (math.log(0.5) + math.log(1 - 1 / (1 + math.exp(1)))))
    torch.testing.assert_close(jsd_mi_loss(positive, negative), torch.tensor(expected))
    torch.testing.assert_close(jsd_mi_loss(positive, negative, mean_over_pairs=True), torch.tensor(expected / 2))


def test_mi_discriminator_separates_matched_from_shuffled_pairs() -> None:
    torch.manual_seed(0)
    ctx = BuildContext(shape=(1, 8, 8), k=4, n=64, dataset="toy")
    loss = MutualInfoLoss(ctx, arch="32", dim_zs=6)  # act is 512-d at 8 x 8
    optimizer = torch.optim.Adam(loss.parameters(), lr=1e-3, betas=(0.5, 0.9))

    def batch(n: int = 64):  # the image's class shows in act and in z_c; z_s is noise
        labels = torch.randint(0, 4, (n,))
        act = 0.1 * torch.randn(n, 512) + 3 * nn.functional.one_hot(labels, 512).float()
        z = torch.cat([0.1 * torch.randn(n, 6), nn.functional.one_hot(labels, 4).float()], dim=1)
        return {"act": act, "z": z}
    first = loss([batch()], None).item()
    assert abs(first - 2 * math.log(2)) < 0.3
    for _ in range(100):
        value = loss([batch()], None)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    test = batch(256)
    with torch.no_grad():
        matched = loss.scores(test["act"], test["z"])
        shuffled = loss.scores(test["act"], test["z"][torch.randperm(256)])
        final = loss([test], None).item()
    assert final < first - 0.4  # a shuffled z has the same class 1/4 of the time, so the floor is above 0
    assert (matched.sigmoid().mean() - shuffled.sigmoid().mean()) > 0.4


def test_kl_is_zero_for_identical_views_and_hand_value_otherwise() -> None:
    logits = torch.randn(5, 3)
    assert category_kl(logits, logits.clone()).abs().item() < 1e-6
    p, q = torch.tensor([[0.5, 0.5]]), torch.tensor([[0.25, 0.75]])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    torch.testing.assert_close(category_kl(p.log(), q.log()), torch.tensor(expected))


def test_kl_gradient_reaches_both_views() -> None:
    clean, aug = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    category_kl(clean, aug).backward()
    assert clean.grad.abs().sum() > 0 and aug.grad.abs().sum() > 0
