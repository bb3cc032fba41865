"""Optimisers and learning-rate schedules from :class:`~clust_core.config.OptimizerConfig`."""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from ..config import OptimizerConfig


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


def make_scheduler(config: OptimizerConfig, optimizer: torch.optim.Optimizer,
                   total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step multiplier of the base learning rate.

    ``constant``: 1. ``cosine``: ½(1 + cos(π·t/T)) over the stage's ``total_steps``.
    ``fixmatch``: cos(7π·t / 16T) (FixMatch's schedule, SPICE stage 3). ``inv`` (Caffe, used by JULE): (1 + γ·t)^(−p).
    """
    span = max(total_steps, 1)
    if config.schedule == "cosine":
        factor = lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, span) / span))  # noqa: E731
    elif config.schedule == "fixmatch":
        factor = lambda step: math.cos(7 * math.pi * min(step, span) / (16 * span))  # noqa: E731
    elif config.schedule == "inv":
        factor = lambda step: (1.0 + config.inv_gamma * step) ** (-config.inv_power)  # noqa: E731
    else:
        factor = lambda step: 1.0  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def trainable(*modules: nn.Module) -> list[nn.Parameter]:
    """Parameters that require gradients, each once, in module order."""
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for p in module.parameters():
            if p.requires_grad:
                seen.setdefault(id(p), p)
    return list(seen.values())
