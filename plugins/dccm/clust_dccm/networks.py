"""DCCM's networks (supplement §4, Table 1) with the taps of the MI term.

DCCM: Wu et al., ICCV 2019, https://arxiv.org/abs/1904.06925 (with its supplementary material); released
code: https://github.com/Cory-M/DCCM (CIFAR network ``models/cifar_C4_L2.py``, taps in ``cfgs/*.yaml``).

Every network is a conv trunk (conv-BN-ReLU blocks and max-pools), a global
average pool, ``(D) Linear BN ReLU`` and a K-way ``Linear`` head with a softmax.
It returns ``probs`` (z, eq. 1), ``logits``, ``embedding`` (the first FC
layer) and the two MI taps ``shallow`` (a feature map) and ``deep`` (a vector).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from clust_core.components import BuildContext

Layer = tuple[str, int, int]
"""``("conv", out_channels, kernel)`` or ``("pool", kernel, 0)`` (max-pool, stride = kernel)."""

_CIFAR = (("conv", 64, 3), ("conv", 64, 3), ("pool", 2, 0), ("conv", 128, 3), ("pool", 2, 0), ("conv", 256, 3))
_LARGE = (("conv", 64, 5), ("conv", 64, 5), ("pool", 4, 0), ("conv", 128, 3), ("conv", 128, 3), ("pool", 4, 0),
          ("conv", 256, 1))


@dataclass(frozen=True)
class Layout:
    """One column of supplement Table 1.

    Attributes:
        layers: The trunk, in order.
        padding: Conv padding (the supplement gives none; 0 as in the released code's CIFAR network,
            ``models/cifar_C4_L2.py``, which brings every column's map down to 1x1).
        shallow: The paper's S is the output of this many conv blocks (supplement §4).
        hidden: Width of the first FC layer, the paper's D.
    """

    layers: tuple[Layer, ...]
    padding: int
    shallow: int
    hidden: int


LAYOUTS: dict[str, Layout] = {
    "net32": Layout(_CIFAR, 0, 2, 64),        # CIFAR-10/100 column, S after the 2nd conv
    "net64": Layout(_LARGE, 0, 3, 256),       # Tiny-ImageNet column, S after the 3rd conv, D = Linear(256, 256)
    "net96": Layout(_LARGE, 0, 3, 64),        # STL-10 / ImageNet-10 / ImageNet-dog column
    "net_small": Layout(_CIFAR, 1, 2, 64),    # not in the paper: the CIFAR pattern with padding 1 for 8-28 px
}


class DCCMNet(nn.Module):
    """A Table 1 network.

    The table's last pool (4x4 or 2x2 average) covers the whole final map at
    the nominal input size, so it is a global average pool here; other input
    sizes then work too.

    Args:
        ctx: Build context (input shape, K).
        layout: Which column of Table 1.
        taps: ``"paper"``: S = output of the ``layout.shallow``-th conv block, D = the
            first FC layer after BN and ReLU (supplement §4). ``"code"``: the first
            max-pool's output and the last Linear's K-d output before the final BN
            (released code, ``cfgs/cifar10.yaml`` ``layers: [7, 19]``).
        final_bn: BatchNorm1d(K) before the softmax (released code; not in Table 1).
        track_running_stats: False (released code) makes every BatchNorm use batch
            statistics, in evaluation too (``models/cifar_C4_L2.py``: ``track_running_stats=False``).
        linear_init: ``"identity"`` (released code: ``eye_`` weights, zero bias) or
            ``"torch"`` (PyTorch's default); the paper does not say.
    """

    def __init__(self, ctx: BuildContext, layout: Layout, *, taps: str = "paper", final_bn: bool = False,
                 track_running_stats: bool = False, linear_init: str = "identity") -> None:
        super().__init__()
        if taps not in ("paper", "code") or linear_init not in ("identity", "torch"):
            raise ValueError(f"taps must be paper/code and linear_init identity/torch, got {taps}/{linear_init}")
        self.layout, self.taps = layout, taps
        channels, blocks = ctx.shape[0], []
        for kind, size, kernel in layout.layers:
            if kind == "pool":
                blocks.append(nn.MaxPool2d(size, size))
                continue
            blocks.append(nn.Sequential(nn.Conv2d(channels, size, kernel, padding=layout.padding),
                                        nn.BatchNorm2d(size, track_running_stats=track_running_stats),
                                        nn.ReLU(inplace=True)))
            channels = size
        self.trunk = nn.ModuleList(blocks)
        self.fc = nn.Linear(channels, layout.hidden)
        self.fc_bn = nn.BatchNorm1d(layout.hidden, track_running_stats=track_running_stats)
        self.head = nn.Linear(layout.hidden, ctx.k)
        self.head_bn = nn.BatchNorm1d(ctx.k, track_running_stats=track_running_stats) if final_bn else None
        self._init(linear_init)

    def _init(self, linear_init: str) -> None:
        """Kaiming-normal convs with zero bias; identity Linears (code's init); BN weight 1, bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear) and linear_init == "identity":
                nn.init.eye_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Prediction and taps for a batch of [0, 1] images (no normalisation, as the code)."""
        x, convs, shallow = images, 0, None
        for block in self.trunk:
            x = block(x)
            if isinstance(block, nn.MaxPool2d):
                if self.taps == "code" and shallow is None:
                    shallow = x
                continue
            convs += 1
            if self.taps == "paper" and convs == self.layout.shallow:
                shallow = x
        embedding = torch.relu(self.fc_bn(self.fc(x.mean(dim=(2, 3)))))
        raw = self.head(embedding)
        logits = raw if self.head_bn is None else self.head_bn(raw)
        deep = embedding if self.taps == "paper" else raw
        return {"embedding": embedding, "logits": logits, "probs": logits.softmax(dim=1),
                "shallow": shallow, "deep": deep}


def build(ctx: BuildContext, layout: str, **params: object) -> DCCMNet:
    """The network of Table 1 column ``layout`` (a key of :data:`LAYOUTS`)."""
    return DCCMNet(ctx, LAYOUTS[layout], **params)


def layout_for(shape: tuple[int, int, int]) -> str:
    """The column that fits ``shape``: small images below 32 px, then 32, 64 and 96 px networks."""
    size = min(shape[1:])
    if size < 32:
        return "net_small"
    return "net32" if size < 64 else "net64" if size < 96 else "net96"


def tap_dims(ctx: BuildContext, layout: str, taps: str) -> tuple[int, int]:
    """Channels of the shallow tap and width of the deep tap of a network (a dry run on two images)."""
    net = build(ctx, layout, taps=taps)
    with torch.no_grad():
        out = net(torch.zeros(2, *ctx.shape))
    return out["shallow"].shape[1], out["deep"].shape[1]
