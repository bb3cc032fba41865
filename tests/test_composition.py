"""Composition: a factory builds another registered component through its build context, checked before
training; what a component needs and produces may depend on its params."""
from __future__ import annotations

import attrs
import pytest
import torch
from torch import nn

from clust_core.accelerate import Accelerator
from clust_core.components import (BuildContext, InputSpec, LossSpec, RepresentationSpec, Supervision, Uses,
                                   declared)
from clust_core.config import LossSlot, RunConfig, Slot, StageConfig
from clust_core.data import load_dataset
from clust_core.engine.stage import build_stage, resolve_stage
from clust_core.engine.trainer import StageTrainer, TrainerHooks
from clust_core.errors import ClustError
from clust_core.settings import from_dict, to_dict
from clust_core.testing import check_component, registry_with
from test_registry import plugin


class Heads(nn.Module):
    """``n_heads`` linear softmax heads over any registered backbone's embedding."""

    def __init__(self, ctx: BuildContext, backbone: str = "core.convnet", n_heads: int = 1) -> None:
        super().__init__()
        self.backbone = ctx.build("representation", backbone)
        with torch.no_grad():
            width = self.backbone(torch.zeros(2, *ctx.shape))["embedding"].shape[1]
        self.heads = nn.ModuleList(nn.Linear(width, ctx.k) for _ in range(n_heads))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.backbone(images)["embedding"]
        logits = torch.stack([head(embedding) for head in self.heads], dim=1)
        if len(self.heads) == 1:
            return {"embedding": embedding, "logits": logits[:, 0], "probs": logits[:, 0].softmax(dim=1)}
        return {"embedding": embedding, "head_probs": logits.softmax(dim=2)}


def head_outputs(params) -> frozenset[str]:
    return frozenset({"embedding", "logits", "probs"} if params["n_heads"] == 1 else {"embedding", "head_probs"})


class MeanEntropy(nn.Module):
    """Mean entropy of ``output`` (probabilities of one head, or of every head)."""

    def __init__(self, ctx: BuildContext, output: str = "probs") -> None:
        super().__init__()
        self.output = output

    def forward(self, outputs, supervision: Supervision | None) -> torch.Tensor:
        probs = outputs[0][self.output]
        return -(probs * probs.clamp_min(1e-8).log()).sum(dim=-1).mean()


class ColourOnly(nn.Module):
    def __init__(self, ctx: BuildContext) -> None:
        super().__init__()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embedding": images.flatten(1)}


MINE = plugin(
    "mine",
    clust_representations=[
        RepresentationSpec(name="heads", factory=Heads, produces=head_outputs,
                           uses={"backbone": Uses("representation", frozenset({"embedding"}))}),
        RepresentationSpec(name="colour_only", factory=ColourOnly, produces=frozenset({"embedding"}),
                           accepts=InputSpec(channels=(3,))),
        RepresentationSpec(name="no_embedding", factory=lambda ctx: nn.Identity(), produces=frozenset({"probs"})),
    ],
    clust_losses=[LossSpec(name="entropy", factory=MeanEntropy, needs=lambda params: frozenset({params["output"]}))],
)
REGISTRY = registry_with(mine=MINE)
GREY = (1, 8, 8)


def stage(backbone="core.convnet", n_heads: int = 1, output: str = "probs") -> StageConfig:
    return StageConfig(representation=Slot("mine.heads", {"backbone": backbone, "n_heads": n_heads}),
                       assignment=Slot("core.kmeans"), epochs=1, batch_size=16,
                       losses={"h": LossSlot("mine.entropy", {"output": output})})


def test_a_composed_backbone_is_resolved_with_its_defaults_and_trains() -> None:
    resolved = resolve_stage(REGISTRY, "s", stage({"component": "core.convnet", "params": {"width": 8}}), GREY, {})
    assert resolved.representation.params == {
        "backbone": {"component": "core.convnet", "params": {"width": 8, "embedding_dim": 128, "batchnorm": True}},
        "n_heads": 1}
    run = RunConfig(recipe="r", plugin="mine", stages={"s": resolved}, k=10)
    assert from_dict(to_dict(run)).stages["s"] == resolved, "the nested component table round-trips through TOML"
    images = load_dataset("digits").subset(range(32))
    parts = build_stage(REGISTRY, "s", resolved, BuildContext(shape=GREY, k=10, n=32, dataset="d"))
    assert isinstance(parts.representation.backbone, nn.Module) and parts.produces == {"embedding", "logits", "probs"}
    hooks = TrainerHooks.silent()
    trainer = StageTrainer(parts, images, Accelerator("cpu"), hooks)
    before = [p.detach().clone() for p in parts.representation.backbone.parameters()]
    trainer.fit()
    assert trainer.step == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, parts.representation.backbone.parameters())), \
        "the composed backbone's weights are trained with the heads"


@pytest.mark.parametrize(("backbone", "message"), [
    ("core.convnt", r"s.representation.params.backbone: unknown representation 'core.convnt'; "
                    r"did you mean 'core.convnet'\?"),
    ("core.argmax", r"s.representation.params.backbone: unknown representation 'core.argmax'"),
    ({"component": "core.convnet", "params": {"widht": 8}}, r"'core.convnet' has no parameter 'widht'"),
    ({"component": "core.convnet", "params": {"width": "wide"}}, r"params.width: expected int, got 'wide'"),
    ("mine.colour_only", r"backbone: mine.colour_only does not accept 1-channel images"),
    ("mine.no_embedding", r"backbone needs output \['embedding'\], which mine.no_embedding does not produce"),
    (3, r"backbone: expected a representation as NAME or \{component = NAME, params = \{...\}\}, got 3"),
    ({"component": "core.convnet", "extra": 1}, r"expected a representation as NAME"),
])
def test_an_incompatible_composed_component_is_refused_before_training(backbone, message) -> None:
    with pytest.raises(ClustError, match=message):
        resolve_stage(REGISTRY, "s", stage(backbone), GREY, {})


def test_what_a_component_needs_and_produces_follows_its_params() -> None:
    with pytest.raises(ClustError, match=r"loss 'h' \(mine.entropy\) needs output \['probs'\], which mine.heads does "
                                         r"not produce \(it produces \['embedding', 'head_probs'\]\)"):
        resolve_stage(REGISTRY, "s", stage(n_heads=3), GREY, {})
    resolved = resolve_stage(REGISTRY, "s", stage(n_heads=3, output="head_probs"), GREY, {})
    spec = REGISTRY.component("representation", "mine.heads")
    assert declared(spec.produces, resolved.representation.params) == {"embedding", "head_probs"}
    labelled = StageConfig(representation=Slot("mine.heads", {"n_heads": 3}), assignment=Slot("core.argmax"))
    with pytest.raises(ClustError, match=r"assignment core.argmax needs output \['probs'\]"):
        resolve_stage(REGISTRY, "s", labelled, GREY, {})
    on_embedding = resolve_stage(REGISTRY, "s", attrs.evolve(labelled, assignment=Slot("core.kmeans")), GREY, {})
    assert on_embedding.assignment.params["n_redo"] >= 1, "k-means reads the embedding, which every head count has"


def test_a_composing_component_keeps_the_contract() -> None:
    check_component(REGISTRY, "mine.heads")
    check_component(REGISTRY, "mine.entropy")
