"""Representations every method can use: raw pixels and a small convolutional network."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..components import BuildContext, InputSpec, RepresentationSpec


class Pixels(nn.Module):
    """Raw pixels in [0, 1], flattened: the input of every paper's k-means baseline."""

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        return {"embedding": images.flatten(1)}


class ConvNet(nn.Module):
    """3×3 conv blocks (BN, ReLU, 2×2 max-pool) until the map is at most 4×4, then a
    linear embedding and a K-way softmax head."""

    def __init__(self, ctx: BuildContext, width: int = 64, embedding_dim: int = 128, batchnorm: bool = True) -> None:
        super().__init__()
        channels, size, layers = ctx.shape[0], ctx.shape[1], []
        out = width
        while True:
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out) if batchnorm else nn.Identity(),
                       nn.ReLU(inplace=True)]
            channels = out
            if size <= 4:
                break
            layers.append(nn.MaxPool2d(2))
            size, out = size // 2, min(out * 2, 8 * width)
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Linear(channels, embedding_dim)
        self.head = nn.Linear(embedding_dim, ctx.k)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        embedding = self.embed(self.features(images))
        logits = self.head(torch.relu(embedding))
        return {"embedding": embedding, "logits": logits, "probs": logits.softmax(dim=1)}


SPECS = [
    RepresentationSpec(name="pixels", factory=lambda ctx: Pixels(), produces=frozenset({"embedding"}),
                       doc="Raw pixels in [0, 1], flattened."),
    RepresentationSpec(
        name="convnet", factory=ConvNet, produces=frozenset({"embedding", "logits", "probs"}),
        accepts=InputSpec(min_size=4),
        doc="Small VGG-style CNN for any image size with a softmax head."),
]
