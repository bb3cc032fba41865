"""The DCCS encoder Q: image -> z = (z_s linear, z_c softmax) plus the map the MI discriminator reads.

Three bodies (paper appendix A, Tables 6-8): ``28`` (ClusterGAN-style convs),
``32`` and ``96`` (pre-activation ResNets). ``auto`` picks one by image size.

DCCS: Zhao et al., ECCV 2020, https://arxiv.org/abs/2007.10004 (appendix A: architectures); released code:
https://github.com/sKamiJ/DCCS (``models.py``, ``layers.py``, ``datasets.py``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms.v2.functional import rgb_to_grayscale

from clust_core.components import BuildContext, InputSpec, RepresentationSpec
from clust_core.errors import ClustError

from .layers import OptimizedResBlockDown, ResBlock, init_dccs

ARCHS = ("auto", "28", "32", "96")
RESNET_WIDTHS = {"32": (128, 256, 512), "96": (64, 128, 256, 512)}
"""Output widths of the downsampling blocks (Tables 7-8; base width 128 for 32x32, 64 for 96x96)."""


def pick_arch(arch: str, size: int) -> str:
    """Resolve ``auto`` by the image side: < 32 -> ``28``, < 96 -> ``32``, else ``96``.

    Images smaller than 28 (e.g. 8x8 digits) use ``28`` and are resized to 28x28 inside it.
    """
    if arch not in ARCHS:
        raise ClustError(f"dccs encoder arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if arch != "auto":
        return arch
    return "28" if size < 32 else "32" if size < 96 else "96"


def act_dim(arch: str, size: int) -> int:
    """Length of the flattened map the MI discriminator reads (Table 10's X) for ``size`` x ``size`` input."""
    arch = pick_arch(arch, size)
    if arch == "28":
        return 128 * 5 * 5
    widths = RESNET_WIDTHS[arch]
    side = size
    for _ in widths:
        side //= 2
    return widths[-1] * side * side


class Conv28Body(nn.Module):
    """Table 6: conv4x4 s2 (64), BN, LReLU; conv4x4 s2 (128), BN, LReLU -> act 3200; FC 1024, BN, LReLU; FC out."""

    def __init__(self, channels: int, out: int, slope: float) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 64, 4, stride=2), nn.BatchNorm2d(64), nn.LeakyReLU(slope),
            nn.Conv2d(64, 128, 4, stride=2), nn.BatchNorm2d(128), nn.LeakyReLU(slope), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(128 * 5 * 5, 1024, bias=False), nn.BatchNorm1d(1024),
                                  nn.LeakyReLU(slope), nn.Linear(1024, out))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
        act = self.features(x)
        return act, self.head(act)


class ResNetBody(nn.Module):
    """Tables 7-8: OptResDown, ResDown..., (act = the second-last block's output), Res, BN, ReLU, pool, conv1x1."""

    def __init__(self, channels: int, out: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        blocks: list[nn.Module] = [OptimizedResBlockDown(channels, widths[0])]
        blocks += [ResBlock(a, b, down=True) for a, b in zip(widths[:-1], widths[1:])]
        self.features = nn.Sequential(*blocks)
        last = widths[-1]
        # AvgPool4 / AvgPool6 of the paper = a global average at 32x32 / 96x96 input; adaptive for other sizes.
        self.head = nn.Sequential(ResBlock(last, last, down=False), nn.BatchNorm2d(last), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Conv2d(last, out, 1), nn.Flatten())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        act = self.features(x)
        return act.flatten(1), self.head(act)


class DCCSEncoder(nn.Module):
    """Q(x) = z = cat[z_s, softmax(z_c logits)] (§3.2; style first and z_s linear as in the code's ``train.py``).

    Outputs: ``z``; ``style`` (z_s); ``logits`` and ``probs`` (z_c); ``act`` (the
    discriminator's X, not detached); ``embedding`` = z, z_c or z_s by ``embedding``
    (for k-means on it through ``core.kmeans``, Table 4).

    Args:
        ctx: Build context (input shape, K = dim z_c).
        arch: Body: ``28`` (Table 6, ClusterGAN convs), ``32`` / ``96`` (Tables 7-8, pre-activation
            ResNets); ``auto`` picks by image size.
        dim_zs: Dimension of z_s (§4.1.3: 50).
        grayscale: Gray colour images (§4.1.1 / appendix E: inputs are grayscale); must match the views.
        slope: LeakyReLU slope (appendix A: 0.2).
        embedding: What ``embedding`` is: ``z`` (Table 4: k-means on z), ``zc`` or ``zs``.
    """

    def __init__(self, ctx: BuildContext, arch: str = "auto", dim_zs: int = 50, grayscale: bool = True,
                 slope: float = 0.2, embedding: str = "z") -> None:
        super().__init__()
        if embedding not in ("z", "zc", "zs"):
            raise ClustError(f"dccs encoder embedding must be z, zc or zs, got {embedding!r}")
        channels = 1 if grayscale else ctx.shape[0]
        self.grayscale = grayscale
        self.arch, self.dim_zs, self.embedding = pick_arch(arch, min(ctx.shape[1:])), dim_zs, embedding
        out = dim_zs + ctx.k
        body = Conv28Body(channels, out, slope) if self.arch == "28" else ResNetBody(channels, out, RESNET_WIDTHS[self.arch])
        self.body = init_dccs(body)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        if self.grayscale and images.shape[1] == 3:  # the recipe's views are grey already; colour input is grayed here
            images = rgb_to_grayscale(images)
        act, out = self.body(images * 2 - 1)  # Normalize(0.5, 0.5): [0, 1] -> [-1, 1] (code datasets.py)
        style, logits = out[:, :self.dim_zs], out[:, self.dim_zs:]
        probs = logits.softmax(dim=1)
        z = torch.cat([style, probs], dim=1)  # style first, as DCCS's code builds z (train.py)
        chosen = {"z": z, "zc": probs, "zs": style}[self.embedding]
        return {"z": z, "style": style, "logits": logits, "probs": probs, "act": act, "embedding": chosen}


SPECS = [RepresentationSpec(
    name="encoder", factory=DCCSEncoder,
    produces=frozenset({"z", "style", "logits", "probs", "act", "embedding"}),
    accepts=InputSpec(channels=(1, 3), min_size=8),
    doc="DCCS encoder Q: z = (z_s 50-d linear, z_c K-way softmax) and the MI discriminator's input map.")]
