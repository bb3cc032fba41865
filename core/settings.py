"""Config as data: TOML files, ``--set key=value`` overrides and typed validation.

The resolved :class:`~clust_core.config.RunConfig` round-trips through plain
dicts, so ``config.toml`` written by a run loads back with ``--config``.
"""
from __future__ import annotations

import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import attrs
import tomli_w

from .config import RunConfig
from .errors import ClustError

_SLOT_TABLES = ("labelers", "losses")


def to_dict(config: Any) -> dict[str, Any]:
    """Plain nested dict of an attrs config, ``None`` values left out (TOML has no null)."""
    return _without_none(attrs.asdict(config))


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


LEGACY_LOOPS = {"inner": ("core.outer_inner", {"batch_size": "inner_batch"}),
                "labelled": ("spice.labelled", {})}
"""Stage tables of configs written under hook API 1, and the loop (with renamed params) that replaced each."""
LEGACY_STAGE_KEYS = {"init_from": ("representation", "init_from"), "cache": ("representation", "cache"),
                     "eval_every": ("evaluation", "every"), "batchnorm_eval": ("evaluation", "batchnorm"),
                     "stop": ("evaluation", "stop"), "grad_clip": ("optimizer", "grad_clip"),
                     "amp": ("optimizer", "amp")}
"""Stage keys of hook API 1 and where they live now (``StageConfig`` keeps at most ten fields)."""


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a :class:`RunConfig`; any mistake is one :class:`ClustError` line.

    A config written under hook API 1 loads: a stage's ``inner`` or ``labelled`` table becomes its loop, an
    optimizer's ``inv_gamma``/``inv_power`` the ``inv`` schedule's params, and the stage keys of
    :data:`LEGACY_STAGE_KEYS` move into their tables.
    """
    return _structure(RunConfig, _upgraded(data), "")


def _upgraded(data: dict[str, Any]) -> dict[str, Any]:
    stages = data.get("stages")
    if not isinstance(stages, dict):
        return data
    upgraded = {}
    for name, stage in stages.items():
        old = [key for key in LEGACY_LOOPS if isinstance(stage, dict) and key in stage]
        if len(old) == 1 and "loop" not in stage:
            component, renamed = LEGACY_LOOPS[old[0]]
            params = {renamed.get(key, key): value for key, value in stage[old[0]].items()}
            stage = {key: value for key, value in stage.items() if key != old[0]}
            stage["loop"] = {"component": component, "params": params}
        upgraded[name] = _moved_keys(_upgrade_optimizers(stage))
    return {**data, "stages": upgraded}


def _moved_keys(stage: Any) -> Any:
    """A stage table with the keys of :data:`LEGACY_STAGE_KEYS` moved into their tables (a copy)."""
    if not isinstance(stage, dict) or not set(stage) & set(LEGACY_STAGE_KEYS):
        return stage
    moved = {key: (dict(value) if isinstance(value, dict) else value) for key, value in stage.items()
             if key not in LEGACY_STAGE_KEYS}
    for key, (table, field) in LEGACY_STAGE_KEYS.items():
        if key in stage and isinstance(moved.setdefault(table, {}), dict):
            moved[table].setdefault(field, stage[key])
    return moved


def _upgrade_optimizers(value: Any) -> Any:
    """A copy of ``value`` whose optimizer tables of hook API 1 (``inv_gamma``/``inv_power``) hold them as the
    ``inv`` schedule's ``schedule_params`` (dropped under another schedule, which never read them)."""
    if isinstance(value, list):
        return [_upgrade_optimizers(item) for item in value]
    if not isinstance(value, dict):
        return value
    table = {key: _upgrade_optimizers(item) for key, item in value.items()}
    legacy = {key: table.pop(key) for key in ("inv_gamma", "inv_power") if key in table}
    if legacy and table.get("schedule") == "inv" and "schedule_params" not in table:
        table["schedule_params"] = {key.removeprefix("inv_"): item for key, item in legacy.items()}
    return table


def read_toml(path: str | Path) -> dict[str, Any]:
    """Load a TOML config file as a dict."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ClustError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClustError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ClustError(f"config file {path} is not a text (UTF-8) TOML file: byte {exc.start} cannot be "
                         "decoded") from None


def write_toml(config: RunConfig, path: Path) -> None:
    """Write the resolved config so that :func:`read_toml` + :func:`from_dict` restore it."""
    path.write_text(tomli_w.dumps(to_dict(config)))


def parse_value(text: str) -> Any:
    """A ``--set`` value as TOML (``3``, ``0.5``, ``true``, ``[1, 2]``, ``"x"``), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_set(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``key=value`` override to a config dict in place.

    The first part of the key may name a stage (``cluster.epochs=5`` is
    ``stages.cluster.epochs``); ``dataset=…`` is ``data.spec``. Setting a slot
    to a string (``train.assignment=core.kmeans``) swaps its component and
    resets its params to the new component's defaults.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ClustError(f"--set expects key=value, got '{assignment}'")
    parts = key.strip().split(".")
    if parts[0] in data.get("stages", {}):
        parts = ["stages", *parts]
    if len(parts) >= 3 and parts[0] == "stages" and parts[2] in LEGACY_STAGE_KEYS:
        parts[2:3] = LEGACY_STAGE_KEYS[parts[2]]  # hook API 1's names (cluster.eval_every=0) keep working
    elif parts == ["dataset"]:
        parts = ["data", "spec"]
    value = parse_value(raw.strip())
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise ClustError(f"unknown config key '{key}' ('{part}' is not a table)")
        node = node[part]
    last, current = parts[-1], node.get(parts[-1])
    if isinstance(current, dict) and "component" in current and isinstance(value, str):
        node[last] = {**current, "component": value, "params": {}}
    elif current is None and len(parts) > 1 and parts[-2] in _SLOT_TABLES and isinstance(value, str):
        node[last] = {"component": value, "params": {}}
    elif isinstance(current, dict):
        raise ClustError(f"config key '{key}' is a table, not a value")
    else:
        node[last] = value


def _structure(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if attrs.has(tp):
        return _structure_attrs(tp, value, where)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _structure(option, value, where)
            except ClustError as exc:
                errors.append(str(exc))
        raise ClustError(errors[0])
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            choices = ", ".join(map(repr, typing.get_args(tp)))
            raise ClustError(f"{where}: expected one of {choices}, got {value!r}")
        return value
    if origin is dict:
        _expect(isinstance(value, dict), where, "a table", value)
        _, item = typing.get_args(tp)
        return {k: _structure(item, v, _join(where, k)) for k, v in value.items()}
    if origin is list:
        _expect(isinstance(value, list), where, "a list", value)
        (item,) = typing.get_args(tp)
        return [_structure(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float:
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool), where, "a number", value)
        return float(value)
    _expect(isinstance(value, tp) and not (tp is int and isinstance(value, bool)), where, tp.__name__, value)
    return value


def _expect(ok: bool, where: str, what: str, value: Any) -> None:
    if not ok:
        raise ClustError(f"{where}: expected {what}, got {value!r}")


def _structure_attrs(cls: type, value: Any, where: str) -> Any:
    _expect(isinstance(value, dict), where, "a table", value)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in attrs.fields(cls)]
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ClustError(f"unknown config key '{_join(where, unknown[0])}' (known: {', '.join(names)})")
    missing = [f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING and f.name not in value]
    if missing:
        raise ClustError(f"{where or 'config'}: missing key '{missing[0]}'")
    kwargs = {name: _structure(hints[name], v, _join(where, name)) for name, v in value.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ClustError(f"{where or 'config'}: {exc}") from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
