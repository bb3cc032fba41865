"""SPICE-Self's ClusterHeads and SPICE-Semi's JointNetwork: outputs, freezing, stage hand-over and the EMA."""
import pytest
import torch
from torch import nn

from clust_core.components import BuildContext
from clust_core.errors import ClustError
from clust_spice.backbones import build_backbone
from clust_spice.heads import ClusterHeads, JointNetwork

CTX = BuildContext(shape=(1, 8, 8), k=3, n=6, dataset="x")


def _heads(**params: object) -> ClusterHeads:
    torch.manual_seed(0)
    return ClusterHeads(CTX, backbone="convnet_small", heads=4, **params)


def test_cluster_heads_outputs():
    out = _heads()(torch.rand(6, 1, 8, 8))
    assert out["head_probs"].shape == (6, 4, 3)
    assert torch.allclose(out["head_probs"].sum(dim=2), torch.ones(6, 4))
    assert out["embedding"].shape == (6, 128)
    assert torch.allclose(out["embedding"].norm(dim=1), torch.ones(6))
    assert isinstance(ClusterHeads(CTX).backbone, type(build_backbone("convnet_small", CTX.shape)))  # "auto"
    assert len(ClusterHeads(CTX).heads) == 10


def test_frozen_backbone_gets_no_gradient():
    net = _heads()
    assert not any(p.requires_grad for p in net.backbone.parameters())
    net(torch.rand(6, 1, 8, 8))["head_probs"][:, :, 0].sum().backward()
    assert all(p.grad is None for p in net.backbone.parameters())
    assert all(p.grad is not None for p in net.heads.parameters())


@pytest.mark.parametrize("freeze_bn", [True, False])
def test_freeze_bn_keeps_running_statistics(freeze_bn):
    net = _heads(freeze_bn=freeze_bn).train()
    before = {k: v.clone() for k, v in net.backbone.state_dict().items() if "running" in k}
    net(torch.rand(6, 1, 8, 8) * 3)
    after = {k: v for k, v in net.backbone.state_dict().items() if "running" in k}
    unchanged = all(torch.equal(before[k], after[k]) for k in before)
    assert unchanged == freeze_bn
    assert net.training and net.heads.training and net.backbone.training != freeze_bn


class MoCoLike(nn.Module):
    """What a MoCo stage hands over: a ``backbone`` attribute next to other parts."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = build_backbone("convnet_small", CTX.shape)
        self.key_backbone = build_backbone("convnet_small", CTX.shape)
        self.projection = nn.Linear(128, 16)


def test_cluster_heads_take_the_earlier_backbone():
    torch.manual_seed(1)
    source = MoCoLike()
    net = _heads()
    net.init_from_stage(source.state_dict(), {})
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(net.backbone.state_dict()[key], value)
    with pytest.raises(ClustError, match="no 'backbone.\\*' weights"):
        net.init_from_stage({"projection.weight": torch.zeros(16, 128)}, {})
    other = ClusterHeads(CTX, backbone="resnet18_cifar", heads=1)
    with pytest.raises(ClustError, match="do not fit the backbone"):
        net.init_from_stage(other.state_dict(), {})


def _joint(**params: object) -> JointNetwork:
    torch.manual_seed(2)
    return JointNetwork(CTX, backbone="convnet_small", **params)


def test_joint_network_outputs_and_takes_the_selected_head():
    net = _joint()
    out = net.train()(torch.rand(6, 1, 8, 8))
    assert out["logits"].shape == (6, 3) and out["embedding"].shape == (6, 128)
    assert torch.allclose(out["probs"], out["logits"].softmax(dim=1))
    source = _heads()
    net.init_from_stage(source.state_dict(), {"head": 2, "losses": torch.zeros(4)})
    for module in (net.head, net.ema["head"]):
        for key, value in source.heads[2].state_dict().items():
            assert torch.equal(module.state_dict()[key], value)
            assert not torch.equal(module.state_dict()[key], source.heads[1].state_dict()[key])
    for module in (net.backbone, net.ema["backbone"]):
        for key, value in source.backbone.state_dict().items():
            assert torch.equal(module.state_dict()[key], value)
    images = torch.rand(6, 1, 8, 8)
    source.eval(), net.eval()
    assert torch.allclose(net(images)["probs"], source(images)["head_probs"][:, 2], atol=1e-6)
    with pytest.raises(ClustError, match="selected no head"):
        net.init_from_stage(source.state_dict(), {})
    with pytest.raises(ClustError, match="heads.7"):
        net.init_from_stage(source.state_dict(), {"head": 7})


def test_ema_update_by_hand_with_half_momentum():
    net = _joint(ema=0.5, ema_warmup=False)
    assert not any(p.requires_grad for p in net.ema.parameters())
    assert all(p.requires_grad for p in net.backbone.parameters())
    old = net.ema["head"][0].weight.clone()
    with torch.no_grad():
        net.head[0].weight.add_(1.0)
    new = net.head[0].weight.detach().clone()
    live_bn = next(m for m in net.backbone.modules() if isinstance(m, nn.BatchNorm2d))
    live_bn.running_mean.fill_(0.7)
    net.after_step()
    assert torch.allclose(net.ema["head"][0].weight, 0.5 * old + 0.5 * new)
    assert torch.allclose(net.ema["head"][0].weight, old + 0.5)
    ema_bn = next(m for m in net.ema["backbone"].modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.equal(ema_bn.running_mean, live_bn.running_mean)  # buffers copied, not averaged


def test_ema_warmup_follows_the_live_weights_early():
    net = _joint()  # m = 0.999
    expected = net.ema["head"][0].weight.clone()
    for t in range(3):
        with torch.no_grad():
            net.head[0].weight.add_(1.0)
        net.after_step()
        decay = (1 + t) / (10 + t)  # below 0.999 until t = 8991
        expected = decay * expected + (1 - decay) * net.head[0].weight.detach()
        assert torch.allclose(net.ema["head"][0].weight, expected, atol=1e-6)
    assert int(net.ema_updates) == 3


def test_eval_mode_uses_the_ema_copy():
    net = _joint(ema_warmup=False)
    images = torch.rand(6, 1, 8, 8)
    net.eval()
    before = net(images)["logits"]
    with torch.no_grad():
        net.head[2].bias.add_(5.0)
    assert torch.equal(net(images)["logits"], before)            # the EMA copy did not move
    net.after_step()                                             # m = 0.999: the EMA bias moves by 0.005
    assert torch.allclose(net(images)["logits"], before + 0.005, atol=1e-6)
    assert torch.allclose(net.train()(images)["logits"].mean(), before.mean() + 5, atol=0.5)  # the live weights


def test_scratch_start_labels_with_the_earlier_stage_then_trains_fresh_weights():
    net = _joint(start="scratch")
    fresh = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("ema.")}
    source = _heads()
    net.init_from_stage(source.state_dict(), {"head": 1})
    images = torch.rand(6, 1, 8, 8)
    source.eval(), net.eval()
    assert torch.allclose(net(images)["probs"], source(images)["head_probs"][:, 1], atol=1e-6)  # labels come from it
    net.train()(images)  # the first training forward restarts
    assert not bool(net.restart_pending)
    for key, value in net.state_dict().items():
        if key in fresh and key != "restart_pending" and "running" not in key and "num_batches" not in key:
            assert torch.equal(value, fresh[key]), key
    with pytest.raises(ClustError, match="start must be"):
        _joint(start="later")
