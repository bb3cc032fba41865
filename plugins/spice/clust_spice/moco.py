"""SPICE stage 1: the MoCo v2 representation (paper §III-A, §IV-B), a query encoder and its momentum copy.

SPICE: Niu, Shan, Wang, IEEE TIP 2022, https://arxiv.org/abs/2103.09382; released code:
https://github.com/niuchuangnn/SPICE (``tools/train_moco.py`` defaults, ``moco/builder.py``). MoCo v2: Chen et
al. 2020, https://arxiv.org/abs/2003.04297.
"""
from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clust_core.components import BuildContext
from clust_core.errors import ClustError

from .backbones import build_backbone, default_backbone


class LazyOutputs(Mapping[str, Tensor]):
    """Named outputs, each computed on first access and then cached.

    A value is computed as it would have been when the mapping was made: under the
    grad mode, the autocast state and the train/eval modes of ``module`` of that
    moment (callers may read it after leaving a ``no_grad`` or evaluation block).

    Args:
        thunks: Output name -> zero-argument function computing it.
        module: The module whose train/eval modes the thunks depend on.
        device_type: Device of the inputs, whose autocast state is kept.
    """

    def __init__(self, thunks: Mapping[str, Callable[[], Tensor]], module: nn.Module, device_type: str) -> None:
        self._thunks = dict(thunks)
        self._values: dict[str, Tensor] = {}
        self._grad = torch.is_grad_enabled()
        self._modes = {m: m.training for m in module.modules()}
        self._device_type = device_type
        self._autocast = (torch.is_autocast_enabled(device_type), torch.get_autocast_dtype(device_type))

    def __getitem__(self, key: str) -> Tensor:
        if key not in self._values:
            thunk = self._thunks[key]
            with self._as_made():
                self._values[key] = thunk()
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._thunks)

    def __len__(self) -> int:
        return len(self._thunks)

    @contextlib.contextmanager
    def _as_made(self) -> Iterator[None]:
        now = {m: m.training for m in self._modes}
        for m, training in self._modes.items():
            m.training = training
        enabled, dtype = self._autocast
        try:
            with torch.set_grad_enabled(self._grad), torch.autocast(self._device_type, dtype, enabled):
                yield
        finally:
            for m, training in now.items():
                m.training = training


class MoCo(nn.Module):
    """MoCo v2 (§III-A): backbone F + MLP projector, and a momentum copy of both for the keys.

    Outputs of :meth:`forward`, computed lazily (:class:`LazyOutputs`), so a view
    whose keys nobody reads costs no key pass and vice versa:

    * ``embedding``: pooled query-backbone features, L2-normalised (the code's similarity
      embedding, ``tools/pre_compute_embedding.py``; 512-d for the ResNets);
    * ``query``: L2-normalised projection q of the query encoder, with gradients;
    * ``key``: L2-normalised projection k of the momentum encoder, without gradients.

    The momentum update (:meth:`after_step`) touches parameters only: as in MoCo's
    ``builder.py``, the key encoder keeps its own BatchNorm statistics, gathered from
    the batches it encodes. MoCo's shuffle-BN (a DDP-only trick against BN leaking
    batch information) is not done. The images come in [0, 1] without MoCo's
    ImageNet normalisation (see :mod:`.backbones`).

    Args:
        ctx: Build context (input shape).
        backbone: A name of :data:`.backbones.BACKBONES`, or ``auto`` for
            :func:`.backbones.default_backbone` of the input shape (§IV-B: ResNet18 / ResNet34).
        proj_dim: Output width of the projector (code ``tools/train_moco.py`` ``--moco-dim``: 128).
        momentum: m of the key update k <- m k + (1 - m) q (code ``tools/train_moco.py`` ``--moco-m``: 0.999).

    Attributes:
        backbone: Query feature model (the part later stages keep).
        projector: Linear(D, D), ReLU, Linear(D, proj_dim) (``--mlp``, code ``moco/builder.py``).
        key_backbone: Momentum copy of ``backbone``, no gradients.
        key_projector: Momentum copy of ``projector``, no gradients.
    """

    def __init__(self, ctx: BuildContext, backbone: str = "auto", proj_dim: int = 128,
                 momentum: float = 0.999) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ClustError(f"spice moco needs a momentum in [0, 1], got {momentum}")
        self.backbone = build_backbone(default_backbone(ctx.shape) if backbone == "auto" else backbone, ctx.shape)
        dim = self.backbone.out_dim
        self.projector = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, proj_dim))
        self.key_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.key_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.momentum = momentum

    def forward(self, images: Tensor) -> LazyOutputs:
        features = functools.cache(lambda: self.backbone(images))
        return LazyOutputs({
            "embedding": lambda: F.normalize(features(), dim=1),
            "query": lambda: F.normalize(self.projector(features()), dim=1),
            "key": lambda: self._key(images),
        }, self, images.device.type)

    def _key(self, images: Tensor) -> Tensor:
        with torch.no_grad():
            return F.normalize(self.key_projector(self.key_backbone(images)), dim=1)

    @torch.no_grad()
    def after_step(self) -> None:
        """Momentum update of the key encoder's parameters: k <- m k + (1 - m) q (MoCo eq. 2)."""
        for query, key in ((self.backbone, self.key_backbone), (self.projector, self.key_projector)):
            for q, k in zip(query.parameters(), key.parameters()):
                k.mul_(self.momentum).add_(q.detach(), alpha=1.0 - self.momentum)
