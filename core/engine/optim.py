"""Optimisers and learning-rate schedules from :class:`~clust_core.config.OptimizerConfig`."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from ..config import OptimizerConfig
from .schedules import Schedule, build_schedule


def make_optimizer(config: OptimizerConfig, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), Adam (betas) or RMSprop (alpha) with weight decay."""
    params = [p for p in parameters if p.requires_grad]
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    if config.name == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=tuple(config.betas), eps=config.eps,
                                weight_decay=config.weight_decay)
    return torch.optim.RMSprop(params, lr=config.lr, alpha=config.alpha, eps=config.eps,
                               momentum=config.momentum, weight_decay=config.weight_decay)


def make_scheduler(config: OptimizerConfig, optimizer: torch.optim.Optimizer, total_steps: int,
                   schedules: Mapping[str, Callable[..., Schedule]] | None = None) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step multiplier of the base learning rate: ``config.schedule`` (core's or one of ``schedules``, the
    plugins') with ``config.schedule_params``, over the stage's ``total_steps``."""
    factor = build_schedule(config.schedule, total_steps, schedules, **config.schedule_params)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def trainable(*modules: nn.Module) -> list[nn.Parameter]:
    """Parameters that require gradients, each once, in module order."""
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for p in module.parameters():
            if p.requires_grad:
                seen.setdefault(id(p), p)
    return list(seen.values())
