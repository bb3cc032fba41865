"""Component hyperparameters: the spec's defaults merged with the config, type-checked."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..components import ComponentSpec
from ..errors import ClustError


def resolve_params(spec: ComponentSpec, given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Every hyperparameter of ``spec``: its default unless ``given`` overrides it.

    Raises:
        ClustError: a parameter the component does not have, or a value of the wrong type.
    """
    unknown = sorted(set(given) - set(spec.params))
    if unknown:
        known = ", ".join(sorted(spec.params)) or "none"
        raise ClustError(f"{where}: '{spec.name}' has no parameter '{unknown[0]}' (parameters: {known})")
    merged = dict(spec.params)
    for name, value in given.items():
        # a parameter naming another component (``uses``) is checked by the stage, against the registry
        merged[name] = value if name in spec.uses else _checked(spec.params[name], value, f"{where}.params.{name}")
    return merged


def _checked(default: Any, value: Any, where: str) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
        value = type(default)(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ClustError(f"{where}: expected {type(default).__name__}, got {value!r}")
    return value
