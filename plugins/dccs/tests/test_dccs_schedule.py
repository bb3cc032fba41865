"""The recipe's stage in core's trainer: 4 critic steps on fresh batches per encoder step, and the logged L^C."""
from __future__ import annotations

import attrs
import pytest
import torch

import clust_dccs
from clust_core.accelerate import Accelerator
from clust_core.components import BuildContext
from clust_core.data import load_dataset
from clust_core.engine.stage import build_stage, resolve_stage
from clust_core.engine.trainer import StageTrainer, TrainerHooks
from clust_core.recipe import DataInfo
from clust_core.testing import registry_with
from clust_dccs.recipe import beta_aug, dccs_stages


@pytest.fixture(scope="module")
def registry():
    return registry_with(dccs=clust_dccs)


def _trainer(registry, images, records, **changes) -> StageTrainer:
    info = DataInfo(name="digits", shape=images.shape, n=images.n, k=10)
    stage = attrs.evolve(dccs_stages(info)["train"], **changes)
    stage = resolve_stage(registry, "train", stage, images.shape, {})
    parts = build_stage(registry, "train", stage, BuildContext(shape=images.shape, k=10, n=images.n, dataset="digits"))
    hooks = TrainerHooks(log=records.append, evaluate=lambda epoch: {}, checkpoint=lambda state: None)
    return StageTrainer(parts, images, Accelerator("cpu"), hooks)


def test_four_critic_steps_each_on_a_fresh_batch_per_encoder_step(registry) -> None:
    torch.manual_seed(0)
    images = load_dataset("digits").subset(range(128))
    records: list[dict] = []
    trainer = _trainer(registry, images, records, epochs=1, batch_size=16)
    adversary = trainer.parts.losses["adv"].adversary
    critic_batches: list[torch.Tensor] = []
    original = adversary.loss

    def counting(outputs):
        critic_batches.append(outputs[0]["z"].detach().clone())
        return original(outputs)
    adversary.loss = counting
    main_batches: list[torch.Tensor] = []
    trainer.parts.losses["mi"].register_forward_pre_hook(lambda m, args: main_batches.append(args[0][0]["z"].detach()))
    trainer.fit()

    assert trainer.step == len(main_batches) == 128 // 16
    assert len(critic_batches) == 4 * trainer.step
    assert all(len(b) == 16 for b in critic_batches + main_batches)
    for i in range(1, len(critic_batches)):
        assert not torch.equal(critic_batches[i], critic_batches[i - 1]), "a critic step reused a batch"
    critic_optimizer = trainer.adversaries["adv"][1]
    assert {int(s["step"]) for s in critic_optimizer.state.values()} == {4 * trainer.step}
    assert {int(s["step"]) for s in trainer.optimizer.state.values()} == {trainer.step}
    assert critic_optimizer.defaults["lr"] == 1e-4 and critic_optimizer.defaults["betas"] == (0.5, 0.9)
    critic_ids = {id(p) for p in trainer.parts.losses["adv"].critic.parameters()}
    discriminator_ids = {id(p) for p in trainer.parts.losses["mi"].discriminator.parameters()}
    assert not critic_ids & {id(p) for p in trainer.params}, "the encoder's optimiser must not hold the critic"
    assert discriminator_ids <= {id(p) for p in trainer.params}, "D is trained jointly with the encoder"
    (record,) = records
    assert {"adversary/adv", "loss/adv", "loss/mi", "loss/aug"} <= record.keys()


def test_recipe_defaults_follow_the_paper() -> None:
    mnist = dccs_stages(DataInfo("npz:mnist_test", (1, 28, 28), 10_000, 10))["train"]
    cifar = dccs_stages(DataInfo("cifar10", (3, 32, 32), 60_000, 10))["train"]
    assert mnist.batch_size == 64 and mnist.optimizer.lr == 1e-4 and mnist.optimizer.betas == [0.5, 0.9]
    assert mnist.losses["mi"].weight == 0.5 and mnist.losses["adv"].weight == 1.0
    assert mnist.losses["aug"].weight == 2.0 and cifar.losses["aug"].weight == 4.0
    assert mnist.views["aug"].params["flip"] is False and cifar.views["aug"].params["flip"] is True
    assert beta_aug(DataInfo("npz:fashion_mnist_train", (1, 28, 28), 60_000, 10)) == 2.0
    assert mnist.evaluation.stop.metric == "adversary/adv" and mnist.evaluation.stop.mode == "abs_min"
    assert mnist.epochs == cifar.epochs == 3000
    assert dccs_stages(DataInfo("digits", (1, 8, 8), 1797, 10))["train"].epochs == 50


def test_critic_loss_goes_down_while_the_critic_trains(registry) -> None:
    torch.manual_seed(0)
    images = load_dataset("digits").subset(range(64))
    records: list[dict] = []
    trainer = _trainer(registry, images, records, epochs=1, batch_size=64)
    loss = trainer.parts.losses["adv"]
    with torch.no_grad():
        z = trainer.parts.representation(trainer.views(torch.tensor([0]), ["clean"])["clean"].repeat(64, 1, 1, 1))
    z = {k: v.detach() for k, v in z.items()}
    optimizer = trainer.adversaries["adv"][1]
    values = []
    for _ in range(15):
        value = loss.adversary.loss([z])
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert sum(values[-3:]) / 3 < sum(values[:3]) / 3 - 0.1
