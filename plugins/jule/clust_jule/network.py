"""JULE's CNN (paper §4.1.2): 5×5 conv blocks with 50 channels, BN, ReLU, optional
2×2 ceil-mode max-pool, then Linear(flat → 160) and L2 normalisation.

JULE: Yang, Parikh, Batra, CVPR 2016, https://arxiv.org/abs/1604.03628; released Torch code:
https://github.com/jwyang/JULE.torch (per-dataset networks in ``models_def/<dataset>.lua``, init in ``train.lua``).
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext

# Torch code models_def/<dataset>.lua: (padding, pool) per block, keyed by dataset and input size
ARCHITECTURES: dict[str, tuple[tuple[int, int], tuple[tuple[int, bool], ...]]] = {
    "mnist": ((28, 28), ((0, True), (0, False))),
    "usps": ((16, 16), ((0, True),)),
    "coil": ((128, 128), ((0, True),) * 4),
    "umist": ((112, 92), ((2, True),) * 3),
    "frgc": ((32, 32), ((0, True),) * 2),
    "cmu_pie": ((32, 32), ((0, True),) * 2),
}


def blocks_for(dataset: str, size: tuple[int, int]) -> tuple[tuple[int, bool], ...]:
    """The paper's blocks for a dataset it names, else blocks leaving a map of about 10×10."""
    name = dataset.split(":", 1)[-1].lower()
    for key, (shape, blocks) in ARCHITECTURES.items():
        if name.startswith(key) and tuple(size) == shape:
            return blocks
    side, blocks = min(size), []
    while math.ceil((side - 4) / 2) >= 10:
        blocks.append((0, True))
        side = math.ceil((side - 4) / 2)
    if side - 4 >= 8 or not blocks:
        blocks.append((0, False))
    return tuple(blocks)


class JuleCNN(nn.Module):
    """Outputs ``embedding`` (the L2-normalised 160-d feature used for clustering and the
    triplet loss) and ``pixels`` (the flattened input, for the raw-pixel initial clustering).

    Args:
        ctx: Build context (input shape and dataset name pick the blocks).
        channels: Channels of every conv (paper §4.1.2: 50).
        embedding_dim: Width of the ip layer (paper §4.1.2: 160).
        init_std: Standard deviation of the normal weight init (Torch ``train.lua`` ``NetInit``: 0.01).
    """

    def __init__(self, ctx: BuildContext, channels: int = 50, embedding_dim: int = 160, init_std: float = 0.01) -> None:
        super().__init__()
        layers, c_in = [], ctx.shape[0]
        height, width = ctx.shape[1], ctx.shape[2]
        for pad, pool in blocks_for(ctx.dataset, (height, width)):
            layers += [nn.Conv2d(c_in, channels, 5, padding=pad), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
            height, width = height + 2 * pad - 4, width + 2 * pad - 4
            if pool:
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                height, width = math.ceil(height / 2), math.ceil(width / 2)
            c_in = channels
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.embed = nn.Linear(channels * height * width, embedding_dim)
        for module in self.modules():  # train.lua NetInit: weights ~ N(0, 0.01), bias 0
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, init_std)
                nn.init.zeros_(module.bias)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        embedding = F.normalize(self.embed(self.features(images)), dim=1)
        return {"embedding": embedding, "pixels": images.flatten(1)}
