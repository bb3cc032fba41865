"""SPICE's feature models F (paper §IV-B: ResNet18 / ResNet34): image batch -> globally average-pooled features.

Every backbone maps float images (B, C, H, W) to (B, ``out_dim``) features,
average-pooled and *not* normalised (the MoCo heads and the clustering heads
take them as they are; the similarity embedding L2-normalises them).
The images come in [0, 1] without the ImageNet mean/std normalisation of the
code: the first conv is followed by BatchNorm, so a per-channel affine input
change only reparametrises that conv.

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (``spice/model/feature_modules/``: ``cluster_resnet.py``, the IIC-style
ResNet-34, and ``resnet_cifar.py``, ``resnet18_cifar``; chosen per dataset in ``configs/<dataset>/spice_self.py``).
"""
from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from clust_core.errors import ClustError

BACKBONES = ("resnet18_cifar", "resnet34", "convnet_small")
"""Names :func:`build_backbone` accepts."""

RESNET_WIDTHS = (64, 128, 256, 512)
"""Widths of the four BasicBlock stages (released code, ``cluster_resnet.py`` and ``resnet_cifar.py``)."""


def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` BasicBlocks, the first with ``stride`` and a 1x1 conv + BN shortcut when the shape changes."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet(nn.Module):
    """A ResNet of BasicBlocks with a 3x3 stride-1 stem (the CIFAR / IIC pattern of the released code).

    Args:
        channels: Input channels (1 or 3).
        blocks: BasicBlocks per stage; stages have :data:`RESNET_WIDTHS` channels and
            strides 1, 2, 2, 2.
        maxpool: After the stem, MaxPool 2x2 stride 2 padding 1 (ClusterResNet-34) or none
            (``resnet18_cifar``).

    Attributes:
        out_dim: Feature width, 512.
    """

    def __init__(self, channels: int, blocks: tuple[int, int, int, int], maxpool: bool) -> None:
        super().__init__()
        stem: list[nn.Module] = [nn.Conv2d(channels, RESNET_WIDTHS[0], 3, 1, 1, bias=False),
                                 nn.BatchNorm2d(RESNET_WIDTHS[0]), nn.ReLU(inplace=True)]
        if maxpool:
            stem.append(nn.MaxPool2d(2, 2, padding=1))
        self.stem = nn.Sequential(*stem)
        stages, inplanes = [], RESNET_WIDTHS[0]
        for i, (planes, count) in enumerate(zip(RESNET_WIDTHS, blocks)):
            stages.append(_stage(inplanes, planes, count, 1 if i == 0 else 2))
            inplanes = planes
        self.stages = nn.Sequential(*stages)
        self.out_dim = inplanes
        _init(self)

    def forward(self, images: Tensor) -> Tensor:
        return self.stages(self.stem(images)).mean(dim=(2, 3))


class SmallConvNet(nn.Module):
    """A small VGG-style CNN for small grey images (8-28 px digits); not in the paper.

    Each stage is two 3x3 conv-BN-ReLU blocks; a 2x2 max-pool follows a stage while
    the map is at least 8 px (so 28 -> 14 -> 7, 16 -> 8 -> 4, 8 -> 4), then a global
    average pool.

    Args:
        channels: Input channels (1 or 3).
        widths: Channels of the stages; the last is ``out_dim``.

    Attributes:
        out_dim: Feature width, ``widths[-1]`` (128).
    """

    def __init__(self, channels: int, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        self.widths = widths
        self.blocks = nn.ModuleList()
        for width in widths:
            self.blocks.append(nn.Sequential(_conv_bn_relu(channels, width), _conv_bn_relu(width, width)))
            channels = width
        self.out_dim = channels
        _init(self)

    def forward(self, images: Tensor) -> Tensor:
        x = images
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < len(self.blocks) - 1 and min(x.shape[2:]) >= 8:
                x = nn.functional.max_pool2d(x, 2)
        return x.mean(dim=(2, 3))


def _conv_bn_relu(inplanes: int, planes: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inplanes, planes, 3, padding=1, bias=False), nn.BatchNorm2d(planes),
                         nn.ReLU(inplace=True))


def _init(module: nn.Module) -> None:
    """torchvision's ResNet init: Kaiming-normal (fan-out) convs, BatchNorm weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build_backbone(name: str, shape: tuple[int, int, int]) -> nn.Module:
    """The feature model ``name`` for images of ``shape``.

    Args:
        name: One of :data:`BACKBONES`: ``resnet18_cifar`` (3x3 s1 stem, no max-pool,
            BasicBlocks [2, 2, 2, 2]; SPICE's CIFAR-10 config), ``resnet34`` (IIC's
            ClusterResNet-34: BasicBlocks [3, 4, 6, 3], 3x3 s1 stem, MaxPool 2x2 s2 pad 1;
            STL-10 / CIFAR-100) or ``convnet_small`` (:class:`SmallConvNet`).
        shape: (C, H, W) of the input images.

    Returns:
        A module mapping (B, C, H, W) to pooled (B, D) features, with ``out_dim`` = D.

    Raises:
        ClustError: For an unknown name.
    """
    channels = shape[0]
    if name == "resnet18_cifar":
        return ResNet(channels, (2, 2, 2, 2), maxpool=False)
    if name == "resnet34":
        return ResNet(channels, (3, 4, 6, 3), maxpool=True)
    if name == "convnet_small":
        return SmallConvNet(channels)
    raise ClustError(f"unknown SPICE backbone {name!r}: known are {', '.join(BACKBONES)}")


def default_backbone(shape: tuple[int, int, int]) -> str:
    """``convnet_small`` below 32 px, ``resnet18_cifar`` for 32-64 px, ``resnet34`` above.

    The code's CIFAR-10 config uses ``resnet18_cifar``, its STL-10 (96 px) config the ResNet-34
    (``configs/<dataset>/spice_self.py``); below 32 px (not in the paper) is this plugin's choice.
    """
    side = min(shape[1:])
    if side < 32:
        return "convnet_small"
    return "resnet18_cifar" if side <= 64 else "resnet34"
