"""SPICE's networks: frozen backbone + clustering heads (stage 2), the jointly trained network (stage 3).

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382 (§III-B, §III-C, §IV-B); released
code: https://github.com/niuchuangnn/SPICE (heads ``spice/model/feature_modules/mlp.py`` and
``spice/model/heads/sem_head_multi.py``, stage 2 ``tools/train_self_v2.py``, stage 3 ``tools/train_semi.py``).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext
from clust_core.errors import ClustError

from .backbones import build_backbone, default_backbone


def mlp_head(dim: int, k: int) -> nn.Sequential:
    """The clustering head's two FC layers D -> D -> ReLU -> K, logits out (§IV-B; code ``mlp.py``)."""
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, k))


def _backbone(ctx: BuildContext, name: str) -> nn.Module:
    return build_backbone(default_backbone(ctx.shape) if name == "auto" else name, ctx.shape)


def _prefixed(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of ``state`` under ``prefix``, with the prefix removed."""
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}


def _load(module: nn.Module, state: Mapping[str, Tensor], prefix: str, what: str) -> None:
    """Load the ``prefix`` entries of an earlier stage's ``state`` into ``module``, or raise a one-line ClustError."""
    weights = _prefixed(state, prefix)
    if not weights:
        raise ClustError(f"init_from: the earlier stage's representation has no '{prefix}*' weights for the {what}")
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[1:2] or [str(error)]
        raise ClustError(f"init_from: the earlier stage's '{prefix}*' weights do not fit the {what} "
                         f"(different backbone or number of clusters?): {first[0].strip()}") from None


class ClusterHeads(nn.Module):
    """SPICE-Self's network: a frozen backbone shared by ``heads`` independent clustering heads (§III-B).

    Outputs ``embedding``: the L2-normalised pooled backbone features (the fixed
    similarity embedding, code ``tools/pre_compute_embedding.py``) and ``head_probs``
    (B, H, K): each head's softmax over the pooled features.

    Args:
        ctx: Build context (shape, K).
        backbone: A name of :data:`clust_spice.backbones.BACKBONES`, or ``"auto"`` for the shape's default.
        heads: Number of heads (§IV-B: 10; code ``num_head = 10``).
        freeze_bn: Keep the backbone in eval mode during training, so its BatchNorm
            statistics stay fixed (the feature model is fixed in this stage, §III-B "Remark"); False keeps
            the code's behaviour (``tools/train_self_v2.py`` trains in ``train()`` mode, so the statistics
            follow the strong views).
    """

    def __init__(self, ctx: BuildContext, backbone: str = "auto", heads: int = 10, freeze_bn: bool = True) -> None:
        super().__init__()
        self.freeze_bn = freeze_bn
        self.backbone = _backbone(ctx, backbone)
        self.backbone.requires_grad_(False)
        self.heads = nn.ModuleList(mlp_head(self.backbone.out_dim, ctx.k) for _ in range(heads))

    def train(self, mode: bool = True) -> ClusterHeads:
        super().train(mode)
        if self.freeze_bn:
            self.backbone.eval()
        return self

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            features = self.backbone(images)
        head_probs = torch.stack([head(features).softmax(dim=1) for head in self.heads], dim=1)
        return {"embedding": F.normalize(features, dim=1), "head_probs": head_probs}

    def init_from_stage(self, representation_state: Mapping[str, Tensor],
                        assignment_state: Mapping[str, object]) -> None:
        """Take the backbone of an earlier stage (MoCo pre-training), whose representation has ``backbone``.

        Raises:
            ClustError: If that state has no ``backbone.*`` weights or they do not fit.
        """
        del assignment_state
        _load(self.backbone, representation_state, "backbone.", "backbone")


class JointNetwork(nn.Module):
    """SPICE-Semi's network: a trainable backbone and one clustering head, with an EMA copy (§III-C).

    Outputs ``embedding`` (L2-normalised pooled features), ``logits`` and
    ``probs`` of the head. In eval mode the forward pass uses the EMA copy
    (FixMatch evaluates the EMA model).

    Args:
        ctx: Build context (shape, K).
        backbone: A name of :data:`clust_spice.backbones.BACKBONES`, or ``"auto"`` for the shape's default.
        ema: EMA momentum m (code ``tools/train_semi.py``: 0.999, the evaluated model): ema <- m * ema
            + (1 - m) * weights; buffers copied.
        ema_warmup: Use min(m, (1 + t) / (10 + t)) at update t (TensorFlow's ExponentialMovingAverage
            with ``num_updates``), so a short schedule evaluates weights that match the copied
            BatchNorm statistics; FixMatch (2^20 steps) uses m throughout, which False restores. Past
            t = 9000 both are the same.
        start: ``stage`` fine-tunes the earlier stage's backbone and selected head (the paper, §III-C);
            ``scratch`` (the released code: ``tools/train_semi.py`` loads no SPICE-Self weights) keeps them
            only until training begins, so the reliable labels still come from SPICE-Self, then trains
            re-initialised weights.
    """

    def __init__(self, ctx: BuildContext, backbone: str = "auto", ema: float = 0.999, ema_warmup: bool = True,
                 start: str = "stage") -> None:
        super().__init__()
        if start not in ("stage", "scratch"):
            raise ClustError(f"spice.joint: start must be 'stage' or 'scratch', got {start!r}")
        self.momentum, self.start = ema, start
        self.ema_warmup = ema_warmup
        self.register_buffer("restart_pending", torch.tensor(False))
        self.register_buffer("ema_updates", torch.tensor(0))
        self._initial: dict[str, Tensor] = {}
        self.backbone = _backbone(ctx, backbone)
        self.head = mlp_head(self.backbone.out_dim, ctx.k)
        self.ema = nn.ModuleDict({"backbone": copy.deepcopy(self.backbone), "head": copy.deepcopy(self.head)})
        self.ema.requires_grad_(False)

    def _live(self) -> nn.ModuleDict:
        """The trained backbone and head, keyed as in :attr:`ema`."""
        return nn.ModuleDict({"backbone": self.backbone, "head": self.head})

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        if self.training and bool(self.restart_pending):
            self._restart()
        backbone, head = (self.backbone, self.head) if self.training else (self.ema["backbone"], self.ema["head"])
        features = backbone(images)
        logits = head(features)
        return {"embedding": F.normalize(features, dim=1), "logits": logits, "probs": logits.softmax(dim=1)}

    @torch.no_grad()
    def after_step(self) -> None:
        """EMA update after an optimiser step: parameters averaged with momentum m, buffers copied."""
        live, t = self._live(), int(self.ema_updates)
        momentum = min(self.momentum, (1 + t) / (10 + t)) if self.ema_warmup else self.momentum
        for average, current in zip(self.ema.parameters(), live.parameters()):
            average.mul_(momentum).add_(current.detach(), alpha=1.0 - momentum)
        for average, current in zip(self.ema.buffers(), live.buffers()):
            average.copy_(current)
        self.ema_updates += 1

    def init_from_stage(self, representation_state: Mapping[str, Tensor],
                        assignment_state: Mapping[str, object]) -> None:
        """Start from SPICE-Self: its backbone and the head its assignment selected (``assignment_state["head"]``).

        The EMA copy starts from the same weights.

        Raises:
            ClustError: If the earlier stage has no selected head, or lacks / mismatches those weights.
        """
        if "head" not in assignment_state:
            raise ClustError("init_from: the earlier stage's assignment selected no head "
                             "(use SPICE-Self's best-head assignment there)")
        head = int(assignment_state["head"])
        if self.start == "scratch":
            self._initial = {k: v.clone() for k, v in self._live().state_dict().items()}
            self.restart_pending.fill_(True)
        _load(self.backbone, representation_state, "backbone.", "backbone")
        _load(self.head, representation_state, f"heads.{head}.", f"selected head {head}")
        self.ema.load_state_dict(self._live().state_dict())

    @torch.no_grad()
    def _restart(self) -> None:
        """``start="scratch"``: back to the initial random weights at the first training forward."""
        self._live().load_state_dict(self._initial)
        self.ema.load_state_dict(self._initial)
        self.restart_pending.fill_(False)
