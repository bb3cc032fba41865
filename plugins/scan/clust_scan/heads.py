"""SCAN's clustering model: linear softmax heads over a pretext backbone (§2.2; code ``models/models.py``
ClusteringModel), the backbone being any registered representation that produces an ``embedding``.

Van Gansbeke et al., ECCV 2020, https://arxiv.org/abs/2005.12320. The released configs use one head on
CIFAR-10/100-20 and STL-10 with the whole network trained, and ten heads with only the heads trained on the
ImageNet subsets (``configs/scan/*.yml``: ``num_heads``, ``update_cluster_head_only``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from clust_core.components import BuildContext
from clust_core.errors import ClustError


class ScanHeads(nn.Module):
    """``heads`` linear heads D → K over the backbone's ``embedding``.

    Outputs ``embedding`` (the backbone's), and ``logits``/``probs`` with one head or
    ``head_logits``/``head_probs`` (B x H x K) with several.

    Args:
        ctx: Build context; ``ctx.build`` makes the backbone.
        backbone: The registered representation whose ``embedding`` the heads read (default: SPICE's MoCo v2
            network, the pretext this plugin shares with SPICE; the paper's is SimCLR on CIFAR/STL).
        heads: Number of heads (configs: 1 on CIFAR/STL, 10 on ImageNet subsets).
        train_backbone: Train the backbone with the heads (CIFAR/STL configs); False keeps it fixed and in
            eval mode (``update_cluster_head_only`` on the ImageNet subsets).
    """

    def __init__(self, ctx: BuildContext, backbone: Any = "spice.moco", heads: int = 1,
                 train_backbone: bool = True) -> None:
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        self.backbone = ctx.build("representation", backbone)
        self.train_backbone = train_backbone
        if not train_backbone:
            self.backbone.requires_grad_(False)
        with torch.no_grad():
            self.backbone.eval()
            width = self.backbone(torch.zeros(2, *ctx.shape, device=ctx.device))["embedding"].shape[1]
            self.backbone.train()
        self.heads = nn.ModuleList(nn.Linear(width, ctx.k) for _ in range(heads))

    def train(self, mode: bool = True) -> ScanHeads:
        super().train(mode)
        if not self.train_backbone:
            self.backbone.eval()
        return self

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.train_backbone):
            embedding = self.backbone(images)["embedding"]
        logits = torch.stack([head(embedding) for head in self.heads], dim=1)
        if len(self.heads) == 1:
            return {"embedding": embedding, "logits": logits[:, 0], "probs": logits[:, 0].softmax(dim=1)}
        return {"embedding": embedding, "head_logits": logits, "head_probs": logits.softmax(dim=2)}

    def init_from_stage(self, representation_state: Mapping[str, Tensor], assignment_state: Mapping[str, Any]) -> None:
        """Start from an earlier stage: a backbone's own weights (the pretext stage), or a ``scan.heads`` stage's
        backbone and the head its assignment kept (``head``; the only head when it had one), as the code's
        self-labelling step starts from the SCAN step's best head.

        Raises:
            ClustError: When the weights do not fit (another backbone, another number of clusters).
        """
        state = dict(representation_state)
        if not any(key.startswith("heads.") for key in state):
            self._load(self.backbone, state, "backbone")
            return
        self._load(self.backbone, {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")},
                   "backbone")
        kept = int(assignment_state.get("head", 0))
        source = {k.split(".", 2)[2]: v for k, v in state.items() if k.startswith(f"heads.{kept}.")}
        for head in self.heads:
            self._load(head, source, f"head {kept}")

    @staticmethod
    def _load(module: nn.Module, state: Mapping[str, Tensor], what: str) -> None:
        try:
            module.load_state_dict(state)
        except RuntimeError as error:
            detail = (str(error).strip().splitlines()[1:2] or [str(error)])[0].strip()
            raise ClustError(f"init_from: the earlier stage's weights do not fit the {what} "
                             f"(another backbone or number of clusters?): {detail}") from None
