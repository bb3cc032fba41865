"""Building blocks of the DCCS networks: initialisation and pre-activation ResBlocks (paper appendix A, Fig. 7).

DCCS: Zhao et al., ECCV 2020, https://arxiv.org/abs/2007.10004; released code: https://github.com/sKamiJ/DCCS
(``layers.py``, ``models.py``).
"""
from __future__ import annotations

from torch import Tensor, nn


def init_dccs(module: nn.Module) -> nn.Module:
    """Initialise like DCCS's code (``models.py``, ``layers.py``): xavier-normal Conv/Linear weights, zero biases,
    BN (1, 0).

    Args:
        module: Any module; every Conv2d, Linear and BatchNorm inside it is reset.

    Returns:
        The same module.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


def mlp(dims: tuple[int, ...], slope: float = 0.2) -> nn.Sequential:
    """Fully connected layers with LeakyReLU between them and none after the last (Tables 9-10).

    Args:
        dims: Input width, hidden widths, output width.
        slope: LeakyReLU negative slope (appendix A: 0.2).
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(dims) - 2:
            layers.append(nn.LeakyReLU(slope))
    return init_dccs(nn.Sequential(*layers))


class ResBlock(nn.Module):
    """Pre-activation ResBlock (WGAN-GP style, Fig. 7): BN, ReLU, conv3x3, BN, ReLU, conv3x3, [AvgPool2].

    The shortcut is conv1x1 then [AvgPool2] when the block resamples or changes
    the channel count, else the identity (as the code's ``layers.py``).
    """

    def __init__(self, n_in: int, n_out: int, down: bool) -> None:
        super().__init__()
        pool: list[nn.Module] = [nn.AvgPool2d(2)] if down else []
        self.residual = nn.Sequential(
            nn.BatchNorm2d(n_in), nn.ReLU(), nn.Conv2d(n_in, n_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(n_out), nn.ReLU(), nn.Conv2d(n_out, n_out, 3, padding=1), *pool)
        resample = down or n_in != n_out
        self.shortcut = nn.Sequential(nn.Conv2d(n_in, n_out, 1), *pool) if resample else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.residual(x) + self.shortcut(x)


class OptimizedResBlockDown(nn.Module):
    """The first block (Fig. 7): conv3x3, BN, ReLU, conv3x3, AvgPool2; shortcut AvgPool2 then conv1x1."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.Conv2d(n_in, n_out, 3, padding=1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU(),
            nn.Conv2d(n_out, n_out, 3, padding=1), nn.AvgPool2d(2))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(n_in, n_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.residual(x) + self.shortcut(x)
