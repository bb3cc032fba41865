"""An in-process plugin for engine tests: components that count and misbehave on purpose."""
from __future__ import annotations

import torch
from torch import Tensor, nn

import clust_core
from clust_core.components import BuildContext, LossSpec, Outputs, PseudoLabelerSpec, Supervision

CLUST_HOOK_API = clust_core.HOOK_API_VERSION


class RecordingAdversary:
    """A linear critic on the embedding that records the inputs of each of its steps."""

    def __init__(self, dim: int, steps: int, fresh_batch: bool) -> None:
        self.module = nn.Linear(dim, 1)
        self.steps, self.fresh_batch = steps, fresh_batch
        self.seen: list[Tensor] = []

    def loss(self, outputs: list[Outputs]) -> Tensor:
        embedding = outputs[0]["embedding"]
        self.seen.append(embedding.detach().clone())
        return self.module(embedding).pow(2).mean()


class CriticLoss(nn.Module):
    """Generator side: push the critic's score up; owns a :class:`RecordingAdversary`."""

    def __init__(self, ctx: BuildContext, steps: int = 4, fresh_batch: bool = True) -> None:
        super().__init__()
        self.adversary = RecordingAdversary(ctx.outputs["embedding"][0], steps, fresh_batch)
        self.critic = self.adversary.module
        self.main_inputs: list[Tensor] = []

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        self.main_inputs.append(outputs[0]["embedding"].detach().clone())
        return -self.critic(outputs[0]["embedding"]).mean() + outputs[0]["probs"].pow(2).mean()


class NanAfter(nn.Module):
    """Mean squared probability until ``after`` calls, then NaN."""

    def __init__(self, ctx: BuildContext, after: int = 3) -> None:
        super().__init__()
        self.after, self.calls = after, 0

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        self.calls += 1
        value = outputs[0]["probs"].pow(2).mean()
        return value * float("nan") if self.calls > self.after else value


class CountingLabeler:
    """Batch scope: argmax labels, recording the batch size of every call."""

    def __init__(self, ctx: BuildContext) -> None:
        self.sizes: list[int] = []

    def __call__(self, outputs: Outputs) -> Supervision:
        self.sizes.append(len(outputs["probs"]))
        labels = outputs["probs"].argmax(dim=1)
        return Supervision(labels=labels, mask=torch.ones_like(labels, dtype=torch.bool),
                           pairs=torch.eye(len(labels)))


class PixelsWithHead(nn.Module):
    """Embedding = the raw pixels (so tests can see which images were used) + a linear softmax head."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.head = nn.Linear(int(torch.tensor(ctx.shape).prod()), ctx.k)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        flat = images.flatten(1)
        logits = self.head(flat)
        return {"embedding": flat, "logits": logits, "probs": logits.softmax(dim=1)}


@clust_core.hookimpl
def clust_representations():
    from clust_core.components import RepresentationSpec
    return [RepresentationSpec(name="pixels_head", factory=PixelsWithHead,
                               produces=frozenset({"embedding", "logits", "probs"}))]


@clust_core.hookimpl
def clust_losses():
    return [
        LossSpec(name="critic", factory=CriticLoss, needs=frozenset({"embedding", "probs"}),
                 params={"steps": 4, "fresh_batch": True}),
        LossSpec(name="nan_after", factory=NanAfter, needs=frozenset({"probs"}), params={"after": 3}),
    ]


@clust_core.hookimpl
def clust_pseudo_labelers():
    return [PseudoLabelerSpec(name="counting", factory=CountingLabeler, needs=frozenset({"probs"}),
                              produces=frozenset({"labels", "mask", "pairs"}))]
