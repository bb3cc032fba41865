"""Prior matching: the encoder's adversarial loss (eq. 10) and its WGAN-GP critic (eqs. 11, 14; Table 9)."""
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
    """L_Adv^Q = -E C(z) (eq. 10); the slot's weight is beta_Adv (eq. 12). Owns the critic C."""

    def __init__(self, ctx: BuildContext, dim_zs: int = 50, sigma: float = 0.1, gp_weight: float = 10.0,
                 beta_adv: float = 1.0, n_critic: int = 4, fresh_batch: bool = True, slope: float = 0.2) -> None:
        super().__init__()
        self.critic = mlp((dim_zs + ctx.k, 1024, 512, 1), slope)  # Table 9
        self.adversary = PriorCritic(self.critic, ctx.k, dim_zs, sigma, gp_weight, beta_adv, n_critic, fresh_batch)

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        return encoder_adversarial(self.critic(outputs[0]["z"].float()))


SPECS = [LossSpec(
    name="prior", factory=PriorMatchingLoss, needs=frozenset({"z"}),
    params={"dim_zs": 50,         # §4.1.3: dim z_s = 50 (must match the encoder's)
            "sigma": 0.1,         # §3.3 / §4.1.3: z~_s ~ N(0, 0.1^2 I)
            "gp_weight": 10.0,    # eq. 11 / §4.1.3: lambda = 10
            "beta_adv": 1.0,      # eq. 14: L^C = beta_Adv * L_Adv^C (the slot weight is beta_Adv of eq. 12)
            "n_critic": 4,        # Alg. 1 / §4.1.3: 4 critic iterations per encoder iteration
            "fresh_batch": True,  # Alg. 1 line 3: each critic iteration samples its own batch
            "slope": 0.2},        # appendix A: LeakyReLU slope
    doc="WGAN-GP prior matching of z to one-hot z_c x N(0, 0.1^2) z_s; owns the critic (n_critic steps).")]
