"""SPICE-Self's head selection: keep the head with the lowest loss on the whole dataset (§III-B, §IV-F3).

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (``tools/train_self_v2.py``: ``checkpoint_select``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from clust_core.components import Assignment, BuildContext, Outputs

from .double_softmax import double_softmax_ce_per_head
from .prototypes import prototype_targets


class KeptHead:
    """An assignment that keeps one head of a multi-head network: cluster = that head's argmax, confidence =
    its probability. Subclasses choose the head in ``fit`` (set :attr:`head` and :attr:`losses_`), never from
    labels.

    Attributes:
        head: Index of the kept head, None before ``fit``.
        losses_: (H,) the score of every head at the last fit (lower is kept).
    """

    head: int | None = None
    losses_: Tensor | None = None

    def predict(self, outputs: Outputs) -> Assignment:
        if self.head is None:
            raise RuntimeError(f"{type(self).__name__}.predict called before fit")
        confidence, labels = outputs["head_probs"][:, self.head].float().max(dim=1)
        return Assignment(labels.cpu().numpy().astype(np.int64), confidence.cpu().numpy())

    def state_dict(self) -> dict[str, Any]:
        return {} if self.head is None else {"head": self.head, "losses": self.losses_}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.head = int(state["head"]) if "head" in state else None
        self.losses_ = torch.as_tensor(state["losses"]) if "losses" in state else None


class BestHeadAssignment(KeptHead):
    """Prototype labelling with B = N (eqs. 2-4), then the head whose eq. 5 loss on its own pairs is lowest.

    Ground-truth labels are never used (the code's GT-chosen ``checkpoint_best``
    in ``tools/train_self_v2.py`` is a label leak). Cluster = argmax of the kept head;
    confidence = its probability.

    Args:
        ctx: Build context (unused).
        center_ratio: M as a share of N / K (code ``center_ratio``: 0.5).

    Attributes:
        head: Index of the kept head, None before :meth:`fit`.
        losses_: (H,) double-softmax CE of every head at the last fit.
    """

    def __init__(self, ctx: BuildContext, center_ratio: float = 0.5) -> None:
        del ctx
        self.center_ratio = center_ratio

    def fit(self, outputs: Outputs) -> Assignment:
        head_probs = outputs["head_probs"].float()
        targets = prototype_targets(head_probs, outputs["embedding"], self.center_ratio)
        self.losses_ = double_softmax_ce_per_head(head_probs, targets).detach().cpu()
        self.head = int(self.losses_.argmin())
        return self.predict(outputs)
