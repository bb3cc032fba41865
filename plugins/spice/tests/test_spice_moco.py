"""MoCo v2 representation and InfoNCE loss: lazy outputs, momentum update, loss by hand, queue, training."""
import math

import pytest
import torch
import torch.nn.functional as F

from clust_core.augment import build_augmentation
from clust_core.components import BuildContext
from clust_core.errors import ClustError
from clust_core.testing import tiny_imageset
from clust_spice.infonce import InfoNCE, infonce
from clust_spice.moco import LazyOutputs, MoCo

SMALL = BuildContext(shape=(1, 8, 8), k=4, n=16, dataset="tiny")


def loss_ctx(dim: int) -> BuildContext:
    return BuildContext(shape=(1, 8, 8), k=4, n=16, dataset="tiny", outputs={"query": (dim,)})


def test_outputs_are_unit_vectors_and_only_the_query_has_gradients():
    torch.manual_seed(0)
    moco = MoCo(SMALL, proj_dim=16)
    out = moco(torch.rand(5, 1, 8, 8))
    assert isinstance(out, LazyOutputs) and set(out) == {"embedding", "query", "key"} and len(out) == 3
    assert out["embedding"].shape == (5, moco.backbone.out_dim) == (5, 128)
    assert out["query"].shape == out["key"].shape == (5, 16)
    for name in out:
        assert torch.allclose(out[name].norm(dim=1), torch.ones(5), atol=1e-5)
    assert out["query"].requires_grad and out["embedding"].requires_grad and not out["key"].requires_grad
    assert not any(p.requires_grad for p in [*moco.key_backbone.parameters(), *moco.key_projector.parameters()])


def test_key_encoder_starts_as_a_copy_and_the_backbone_keys_are_named_for_later_stages():
    moco = MoCo(SMALL)
    state = moco.state_dict()
    for name, value in state.items():
        if name.startswith("backbone.") or name.startswith("projector."):
            assert torch.equal(state[f"key_{name}"], value)
    assert any(name.startswith("backbone.") for name in state)
    images = torch.rand(4, 1, 8, 8)
    moco.eval()
    out = moco(images)
    assert torch.allclose(out["query"], out["key"])


def test_auto_backbone_follows_the_image_size():
    assert MoCo(SMALL).backbone.out_dim == 128
    big = MoCo(BuildContext(shape=(3, 32, 32), k=10, n=8, dataset="x"))
    assert big.backbone.out_dim == 512 and big.projector[0].in_features == 512 and big.projector[2].out_features == 128
    with pytest.raises(ClustError, match="unknown SPICE backbone"):
        MoCo(SMALL, backbone="resnet50")
    with pytest.raises(ClustError, match="momentum in"):
        MoCo(SMALL, momentum=1.5)


def test_momentum_update_moves_parameters_only():
    moco = MoCo(SMALL, momentum=0.9)
    with torch.no_grad():
        for p in [*moco.backbone.parameters(), *moco.projector.parameters()]:
            p.fill_(1.0)
        for p in [*moco.key_backbone.parameters(), *moco.key_projector.parameters()]:
            p.fill_(0.0)
        moco.backbone.blocks[0][0][1].running_mean.fill_(3.0)
    moco.after_step()  # k = 0.9 * 0 + 0.1 * 1
    keys = [*moco.key_backbone.parameters(), *moco.key_projector.parameters()]
    assert all(torch.allclose(p, torch.full_like(p, 0.1)) for p in keys)
    moco.after_step()  # k = 0.9 * 0.1 + 0.1 * 1
    assert all(torch.allclose(p, torch.full_like(p, 0.19)) for p in keys)
    assert torch.equal(moco.key_backbone.blocks[0][0][1].running_mean, torch.zeros(32))  # own BN statistics


def test_outputs_are_computed_once_and_only_when_read():
    moco = MoCo(SMALL)
    calls = {"query": 0, "key": 0}
    moco.backbone.register_forward_hook(lambda *_: calls.__setitem__("query", calls["query"] + 1))
    moco.key_backbone.register_forward_hook(lambda *_: calls.__setitem__("key", calls["key"] + 1))
    out = moco(torch.rand(4, 1, 8, 8))
    assert calls == {"query": 0, "key": 0}
    out["query"], out["embedding"], out["query"]
    assert calls == {"query": 1, "key": 0}  # embedding and query share one backbone pass
    first = out["key"]
    assert out["key"] is first and calls == {"query": 1, "key": 1}


def test_outputs_read_later_are_computed_as_when_made():
    moco = MoCo(SMALL).eval()
    bn = moco.backbone.blocks[0][0][1]
    before = bn.running_mean.clone()
    with torch.no_grad():
        out = moco(torch.rand(4, 1, 8, 8))
    moco.train()
    assert not out["query"].requires_grad  # made under no_grad
    assert torch.equal(bn.running_mean, before)  # made in eval mode: running statistics untouched
    assert moco.training and bn.training  # and the current modes are restored


def test_infonce_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    k = torch.tensor([[0.6, 0.8], [0.0, 1.0]], requires_grad=True)
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    # T = 0.5; logits row 1: [0.6, 0, -1] / 0.5, row 2: [1, 1, 0] / 0.5
    first = -math.log(math.exp(1.2) / (math.exp(1.2) + 1 + math.exp(-2)))
    second = -math.log(math.exp(2) / (2 * math.exp(2) + 1))
    value = infonce(q, k, queue, 0.5)
    assert value.item() == pytest.approx((first + second) / 2, rel=1e-5)
    value.backward()
    assert q.grad is not None and k.grad is None  # no gradient into the keys

    loss = InfoNCE(loss_ctx(2), temperature=0.5, queue_size=2).eval()
    loss.queue.copy_(queue)
    assert loss([{"query": q}, {"key": k}]).item() == pytest.approx((first + second) / 2, rel=1e-5)
    assert torch.equal(loss.queue, queue) and loss.pointer.item() == 0  # evaluation enqueues nothing


def test_queue_starts_random_unit_and_enqueues_in_order_with_wrap_around():
    torch.manual_seed(0)
    loss = InfoNCE(loss_ctx(3), queue_size=5)
    assert loss.queue.shape == (5, 3) and torch.allclose(loss.queue.norm(dim=1), torch.ones(5))
    keys = F.normalize(torch.randn(6, 3), dim=1)
    query = F.normalize(torch.randn(2, 3), dim=1)
    for batch in keys.split(2):
        loss([{"query": query}, {"key": batch}])
    assert loss.pointer.item() == 1  # 6 keys into 5 rows: rows 0-4 then row 0 again
    assert torch.equal(loss.queue, torch.cat([keys[5:6], keys[1:5]]))
    assert set(loss.state_dict()) == {"queue", "pointer"}


def test_infonce_refuses_a_queue_smaller_than_the_batch_and_a_missing_query():
    loss = InfoNCE(loss_ctx(3), queue_size=2)
    batch = F.normalize(torch.randn(3, 3), dim=1)
    with pytest.raises(ClustError, match="queue_size 2 is smaller than the 3 keys"):
        loss([{"query": batch}, {"key": batch}])
    with pytest.raises(ClustError, match="'query' output"):
        InfoNCE(SMALL)


def test_infonce_goes_down_when_training_moco():
    torch.manual_seed(0)
    shape, n = (1, 8, 8), 64
    data = tiny_imageset(n, shape, k=n)  # one pattern per image: instances can be told apart
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2)
    augment = build_augmentation("mocov2", shape)
    views = [torch.stack([augment(image) for image in images]) for _ in range(2)]  # two fixed views per image
    moco = MoCo(SMALL, momentum=0.99)
    loss = InfoNCE(loss_ctx(128), queue_size=32)
    opt = torch.optim.Adam(moco.parameters(), lr=1e-3)
    with torch.no_grad():
        loss([moco(views[0][32:]), moco(views[1][32:])])  # fill the queue with the other half's keys
    values = []
    for step in range(20):
        half = slice(0, 32) if step % 2 == 0 else slice(32, 64)  # the queue never holds the batch's own keys
        value = loss([moco(views[0][half]), moco(views[1][half])])
        opt.zero_grad()
        value.backward()
        opt.step()
        moco.after_step()
        values.append(value.item())
    assert values[-1] < 0.75 * values[0]
