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


class TwoViewLabeler:
    """Batch or dataset scope over two views: argmax of the first view, recording what each call received."""

    def __init__(self, ctx: BuildContext) -> None:
        self.calls: list[list[Outputs]] = []

    def __call__(self, outputs: list[Outputs]) -> Supervision:
        self.calls.append(outputs)
        labels = outputs[0]["probs"].argmax(dim=1)
        return Supervision(labels=labels, mask=torch.ones_like(labels, dtype=torch.bool))


class EveryFourth:
    """Dataset scope: labels every fourth image (by index) with ``index % k``, counting its calls."""

    def __init__(self, ctx: BuildContext) -> None:
        self.k, self.calls = ctx.k, 0

    def __call__(self, outputs: Outputs) -> Supervision:
        self.calls += 1
        index = torch.arange(len(outputs["probs"]))
        return Supervision(labels=index % self.k, mask=index % 4 == 0)


class RingNeighbours:
    """Dataset scope: image i's neighbours are i+1, i+2 and i+3 (mod n); logs how many it labelled."""

    def __init__(self, ctx: BuildContext) -> None:
        self.log = ctx.log

    def __call__(self, outputs: Outputs) -> Supervision:
        n = len(outputs["probs"])
        self.log("images", n)
        return Supervision(neighbours=(torch.arange(n)[:, None] + torch.arange(1, 4)[None, :]) % n)


class Agreement(nn.Module):
    """−log⟨p(image), p(its neighbour's view)⟩ averaged over the batch; records the pairs' embeddings and logs
    the mean inner product."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.pairs: list[tuple[Tensor, Tensor]] = []
        self.inner: list[float] = []
        self.log = ctx.log

    def forward(self, outputs: list[Outputs], supervision: Supervision | None) -> Tensor:
        self.pairs.append((outputs[0]["embedding"].detach().clone(), outputs[1]["embedding"].detach().clone()))
        inner = (outputs[0]["probs"] * outputs[1]["probs"]).sum(dim=1)
        self.inner.append(float(inner.mean().detach()))
        self.log("inner", inner.mean())
        return -inner.clamp_min(1e-8).log().mean()


class RecordingSupervised(nn.Module):
    """Cross-entropy on labelled rows; records each call's embedding, labels and mask; counts ``after_step``."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.seen: list[tuple[Tensor, Tensor, Tensor]] = []
        self.after_steps = 0

    def forward(self, outputs: list[Outputs], supervision: Supervision) -> Tensor:
        self.seen.append((outputs[0]["embedding"].detach().clone(), supervision.labels.clone(),
                          supervision.mask.clone()))
        mask = supervision.mask
        logits = outputs[0]["logits"]
        return torch.nn.functional.cross_entropy(logits[mask], supervision.labels[mask]) if mask.any() \
            else logits.sum() * 0

    def after_step(self) -> None:
        self.after_steps += 1


class PixelsWithHead(nn.Module):
    """Embedding = the raw pixels (so tests can see which images were used) + a linear softmax head."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()
        self.head = nn.Linear(int(torch.tensor(ctx.shape).prod()), ctx.k)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        flat = images.flatten(1)
        logits = self.head(flat)
        return {"embedding": flat, "logits": logits, "probs": logits.softmax(dim=1)}


class AdoptingPixelsWithHead(PixelsWithHead):
    """:class:`PixelsWithHead` that records what ``init_from_stage`` received and copies the head."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.adopted: list[tuple[dict, dict]] = []

    def init_from_stage(self, representation_state: dict, assignment_state: dict) -> None:
        self.adopted.append((representation_state, assignment_state))
        self.head.weight.data.copy_(representation_state["head.weight"] + 1)
        self.head.bias.data.copy_(representation_state["head.bias"])


@clust_core.hookimpl
def clust_representations():
    from clust_core.components import RepresentationSpec
    produces = frozenset({"embedding", "logits", "probs"})
    return [RepresentationSpec(name="pixels_head", factory=PixelsWithHead, produces=produces),
            RepresentationSpec(name="adopting", factory=AdoptingPixelsWithHead, produces=produces)]


@clust_core.hookimpl
def clust_losses():
    return [
        LossSpec(name="critic", factory=CriticLoss, needs=frozenset({"embedding", "probs"}),
                 params={"steps": 4, "fresh_batch": True}),
        LossSpec(name="nan_after", factory=NanAfter, needs=frozenset({"probs"}), params={"after": 3}),
        LossSpec(name="agreement", factory=Agreement, needs=frozenset({"embedding", "probs"}), n_views=2),
        LossSpec(name="recording_supervised", factory=RecordingSupervised, needs=frozenset({"embedding", "logits"}),
                 needs_supervision=frozenset({"labels", "mask"})),
    ]


@clust_core.hookimpl
def clust_pseudo_labelers():
    labels = frozenset({"labels", "mask"})
    return [PseudoLabelerSpec(name="counting", factory=CountingLabeler, needs=frozenset({"probs"}),
                              produces=frozenset({"labels", "mask", "pairs"})),
            PseudoLabelerSpec(name="two_views", factory=TwoViewLabeler, needs=frozenset({"probs", "embedding"}),
                              produces=labels, n_views=2),
            PseudoLabelerSpec(name="two_views_dataset", factory=TwoViewLabeler, scope="dataset",
                              needs=frozenset({"probs", "embedding"}), produces=labels, n_views=2),
            PseudoLabelerSpec(name="every_fourth", factory=EveryFourth, needs=frozenset({"probs"}), produces=labels,
                              scope="dataset"),
            PseudoLabelerSpec(name="ring", factory=RingNeighbours, needs=frozenset({"probs"}),
                              produces=frozenset({"neighbours"}), scope="dataset")]
