"""SPICE's feature models: pooled output shapes, known parameter counts, the auto choice."""
import pytest
import torch

from clust_core.errors import ClustError
from clust_spice.backbones import BACKBONES, build_backbone, default_backbone


@pytest.mark.parametrize("name, shape, dim", [
    ("convnet_small", (1, 8, 8), 128),
    ("convnet_small", (1, 28, 28), 128),
    ("convnet_small", (3, 16, 16), 128),
    ("resnet18_cifar", (3, 32, 32), 512),
    ("resnet18_cifar", (1, 32, 32), 512),
    ("resnet34", (3, 96, 96), 512),
])
def test_pooled_features_have_out_dim(name, shape, dim):
    torch.manual_seed(0)
    net = build_backbone(name, shape)
    features = net(torch.rand(2, *shape))
    assert net.out_dim == dim and features.shape == (2, dim)
    assert torch.isfinite(features).all()
    assert not torch.allclose(features.norm(dim=1), torch.ones(2))  # pooled, not normalised


def test_resnet_maps_match_the_spec():
    # released SPICE code (https://github.com/niuchuangnn/SPICE, spice/model/feature_modules/): ClusterResNet-34
    # turns 96x96 into 512x7x7; resnet18_cifar (no max-pool) 32x32 into 512x4x4
    net34 = build_backbone("resnet34", (3, 96, 96)).eval()
    assert net34.stages(net34.stem(torch.rand(1, 3, 96, 96))).shape == (1, 512, 7, 7)
    net18 = build_backbone("resnet18_cifar", (3, 32, 32)).eval()
    assert net18.stages(net18.stem(torch.rand(1, 3, 32, 32))).shape == (1, 512, 4, 4)


def test_parameter_counts_match_the_reference_architectures():
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    # CIFAR ResNet-18 without its 512x10 classifier: 11,173,962 - 5,130
    assert count(build_backbone("resnet18_cifar", (3, 32, 32))) == 11_168_832
    # torchvision resnet34 (21,797,672) without fc (513,000), 7x7 stem (9,408) swapped for 3x3 (1,728)
    assert count(build_backbone("resnet34", (3, 96, 96))) == 21_797_672 - 513_000 - 9_408 + 1_728


def test_small_convnet_pools_only_large_maps():
    net = build_backbone("convnet_small", (1, 8, 8))
    sizes = []
    net.blocks[-1].register_forward_hook(lambda module, args, out: sizes.append(out.shape[-1]))
    for side in (8, 16, 28):
        net(torch.rand(2, 1, side, side))
    assert sizes == [4, 4, 7]  # 8 -> 4 -> 4, 16 -> 8 -> 4, 28 -> 14 -> 7


def test_default_backbone_by_size_and_unknown_name():
    assert default_backbone((1, 8, 8)) == default_backbone((3, 28, 28)) == "convnet_small"
    assert default_backbone((3, 32, 32)) == default_backbone((3, 64, 64)) == "resnet18_cifar"
    assert default_backbone((3, 96, 96)) == "resnet34"
    assert set(BACKBONES) == {"resnet18_cifar", "resnet34", "convnet_small"}
    with pytest.raises(ClustError, match="unknown SPICE backbone 'vgg'"):
        build_backbone("vgg", (3, 32, 32))
