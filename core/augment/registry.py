"""The built-in augmentations by name, and `build_augmentation` to make one from a config."""

import inspect
from collections.abc import Mapping
from typing import Any

from ..errors import ClustError
from .basic import AugmentationFactory, View, check_shape, clean
from .mocov2 import mocov2
from .strong import fixmatch_strong, scan_strong
from .weak import weak

BUILTIN_AUGMENTATIONS: dict[str, AugmentationFactory] = {
    "clean": clean,
    "weak": weak,
    "scan_strong": scan_strong,
    "fixmatch_strong": fixmatch_strong,
    "mocov2": mocov2,
}
"""Core's generic views; method-specific ones come from plugins (``clust_augmentations``)."""


def parameter_names(factory: AugmentationFactory) -> set[str] | None:
    """Keyword parameters a factory accepts after the shape, or None if it takes any (**kwargs)."""
    parameters = list(inspect.signature(factory).parameters.values())[1:]
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return {parameter.name for parameter in parameters if parameter.kind is not inspect.Parameter.VAR_POSITIONAL}


def build_augmentation(name: str, shape: tuple[int, int, int],
                       registry: Mapping[str, AugmentationFactory] | None = None, **params: Any) -> View:
    """Make the named augmentation for images of `shape`.

    Args:
        name: A built-in name or one in `registry`.
        shape: (C, H, W) of the input images.
        registry: Extra factories from plugins (name -> factory); they extend the
            built-ins and take precedence on a shared name.
        **params: The factory's parameters; left out, the paper's defaults apply.

    Returns:
        A view: a batched transform from uint8 B x C x H x W to float32 in [0, 1]
        (a plugin's factory may return any such callable of the batch).

    Raises:
        ClustError: For an unknown name or parameter, a bad shape or a bad parameter value.
    """
    factories = {**BUILTIN_AUGMENTATIONS, **(registry or {})}
    if name not in factories:
        raise ClustError(f"unknown augmentation {name!r}: known are {', '.join(sorted(factories))}")
    factory = factories[name]
    accepted = parameter_names(factory)
    unknown = sorted(set(params) - accepted) if accepted is not None else []
    if unknown:
        raise ClustError(f"augmentation {name} has no parameter {unknown[0]!r}: "
                         f"it takes {', '.join(sorted(accepted)) or 'none'}")
    checked = check_shape(shape)
    try:
        return factory(checked, **params)
    except (TypeError, ValueError) as exc:
        raise ClustError(f"bad parameter for augmentation {name}: {exc}") from exc
