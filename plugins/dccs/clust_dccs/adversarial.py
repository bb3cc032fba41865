"""Prior matching: the encoder's adversarial loss (eq. 10) and its WGAN-GP critic (eqs. 11, 14; Table 9).

DCCS: Zhao et al., ECCV 2020, https://arxiv.org/abs/2007.10004; released code: https://github.com/sKamiJ/DCCS.
"""
from __future__ import annotations

from torch import Tensor, nn

from clust_core.components import BuildContext, LossSpec, Outputs, Supervision

from .layers import mlp
from .prior import critic_objective, encoder_adversarial, gradient_penalty, sample_prior


class PriorCritic:
    """The critic C as the engine's :class:`~clust_core.components.Adversary`.

    Its loss is L^C = beta_adv * L_Adv^C (eq. 14) on the encoder's z of a fresh
    clean batch against as many prior draws; the engine logs it as
    ``adversary/<loss key>`` and -L^C is the paper's Wasserstein estimate (Fig. 3).
    """

    def __init__(self, module: nn.Module, k: int, dim_zs: int, sigma: float, gp_weight: float, beta_adv: float,
                 steps: int, fresh_batch: bool) -> None:
        self.module, self.steps, self.fresh_batch = module, steps, fresh_batch
        self.k, self.dim_zs, self.sigma, self.gp_weight, self.beta_adv = k, dim_zs, sigma, gp_weight, beta_adv

    def loss(self, outputs: list[Outputs]) -> Tensor:
        """L^C on detached encoder outputs (eq. 14)."""
        z = outputs[0]["z"].detach().float()
        prior = sample_prior(len(z), self.k, self.dim_zs, self.sigma, device=z.device)
        penalty = gradient_penalty(self.module, prior, z)
        return self.beta_adv * critic_objective(self.module(prior), self.module(z), penalty, self.gp_weight)


class PriorMatchingLoss(nn.Module):
    """L_Adv^Q = -E C(z) (eq. 10); the slot's weight is beta_Adv (eq. 12). Owns the critic C.

    Args:
        ctx: Build context (K = dim z_c).
        dim_zs: Dimension of z_s (§4.1.3: 50); must match the encoder's.
        sigma: Standard deviation of the prior's z~_s ~ N(0, sigma^2 I) (§3.3, §4.1.3: 0.1).
        gp_weight: Gradient-penalty coefficient lambda (eq. 11, §4.1.3: 10).
        beta_adv: beta_Adv in the critic's L^C = beta_Adv * L_Adv^C (eq. 14); the slot's weight is the
            beta_Adv of eq. 12.
        n_critic: Critic iterations per encoder iteration (Alg. 1, §4.1.3: 4).
        fresh_batch: Each critic iteration samples its own batch (Alg. 1, line 3).
        slope: LeakyReLU slope of the critic (appendix A: 0.2).
    """

    def __init__(self, ctx: BuildContext, dim_zs: int = 50, sigma: float = 0.1, gp_weight: float = 10.0,
                 beta_adv: float = 1.0, n_critic: int = 4, fresh_batch: bool = True, slope: float = 0.2) -> None:
        super().__init__()
        self.critic = mlp((dim_zs + ctx.k, 1024, 512, 1), slope)  # Table 9
        self.adversary = PriorCritic(self.critic, ctx.k, dim_zs, sigma, gp_weight, beta_adv, n_critic, fresh_batch)

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        return encoder_adversarial(self.critic(outputs[0]["z"].float()))


SPECS = [LossSpec(
    name="prior", factory=PriorMatchingLoss, needs=frozenset({"z"}),
    doc="WGAN-GP prior matching of z to one-hot z_c x N(0, 0.1^2) z_s; owns the critic (n_critic steps).")]
