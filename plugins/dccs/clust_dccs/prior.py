"""The prior P_Z and the WGAN-GP pieces that match Q_Z to it (paper §3.3, eqs. 8-11).

DCCS: Zhao et al., ECCV 2020, https://arxiv.org/abs/2007.10004; released code: https://github.com/sKamiJ/DCCS.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_prior(n: int, k: int, dim_zs: int, sigma: float = 0.1, *, device: torch.device | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """Draw z~ = cat[z~_s, z~_c] from P_Z (§3.3).

    z~_c is one-hot with a uniformly drawn class (Cat(K, 1/K)); z~_s ~ N(0, sigma^2 I).

    Args:
        n: Number of samples.
        k: Number of clusters (dim z_c).
        dim_zs: Dimension of z_s.
        sigma: Standard deviation of z~_s (§4.1.3: 0.1).
        device: Where to put the samples.
        generator: Random generator (default: torch's global one).

    Returns:
        n x (dim_zs + k), style first (the order of the encoder's z).
    """
    style = torch.randn(n, dim_zs, generator=generator) * sigma
    category = F.one_hot(torch.randint(0, k, (n,), generator=generator), k).to(style.dtype)
    return torch.cat([style, category], dim=1).to(device)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     alpha: Tensor | None = None, eps: float = 1e-12) -> Tensor:
    """One-centred gradient penalty E[(||grad C(z^)||_2 - 1)^2] of eq. 11.

    z^ = a * real + (1 - a) * fake with a ~ U[0, 1] per sample; the norm is
    sqrt(sum g^2 + eps) as in DCCS's ``calc_gradient_penalty`` (``utils.py``).

    Args:
        critic: The critic C, mapping n x d to n x 1.
        real: Prior samples z~ (n x d).
        fake: Encoded samples z (n x d), detached.
        alpha: Interpolation weights (n,), drawn when None.
        eps: Added under the square root.

    Returns:
        The scalar penalty, differentiable with respect to the critic's parameters.
    """
    if alpha is None:
        alpha = torch.rand(len(real), device=real.device)
    a = alpha.view(-1, 1).to(real.dtype)
    mixed = (a * real + (1 - a) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.pow(2).sum(dim=1) + eps).sqrt() - 1).pow(2).mean()


def critic_objective(score_prior: Tensor, score_encoded: Tensor, penalty: Tensor, gp_weight: float = 10.0) -> Tensor:
    """L_Adv^C = E C(z) - E C(z~) + lambda * GP (eq. 11); -L_C estimates W(Q_Z, P_Z) (§4.2.2, Fig. 3)."""
    return score_encoded.mean() - score_prior.mean() + gp_weight * penalty


def encoder_adversarial(score_encoded: Tensor) -> Tensor:
    """L_Adv^Q = -E C(z) (eq. 10)."""
    return -score_encoded.mean()
