"""CONTRIBUTING.md documents every field of every spec, slot and config class, and no field that is gone."""
from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from clust_core import components, config, recipe

CLASSES = [components.ComponentSpec, components.RepresentationSpec, components.PseudoLabelerSpec,
           components.LossSpec, components.AssignmentSpec, components.LoopSpec, components.InputSpec,
           components.Uses, recipe.RecipeSpec, recipe.DataInfo, components.BuildContext, components.Supervision,
           components.Assignment, config.Slot, config.RepresentationSlot, config.LabelerSlot, config.LossSlot,
           config.ViewConfig, config.StageConfig, config.OptimizerConfig, config.EvaluationConfig,
           config.StopRule, config.DataConfig, config.RunConfig]
TEXT = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text()


def documented(name: str) -> set[str]:
    """The fields listed in the table under the heading ``### `name```."""
    match = re.search(rf"^### `{name}`\n(.*?)(?=^#|\Z)", TEXT, flags=re.M | re.S)
    assert match, f"CONTRIBUTING.md has no section for {name}"
    return set(re.findall(r"^\| `(\w+)` \|", match.group(1), flags=re.M))


def own_fields(cls: type) -> set[str]:
    """A class's attrs fields without those of its documented attrs base."""
    base = next((b for b in cls.__mro__[1:] if attrs.has(b) and b in CLASSES), None)
    inherited = {f.name for f in attrs.fields(base)} if base else set()
    return {f.name for f in attrs.fields(cls)} - inherited


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_field_is_documented_and_every_documented_field_exists(cls: type) -> None:
    fields, listed = own_fields(cls), documented(cls.__name__)
    assert fields - listed == set(), f"{cls.__name__}: undocumented {sorted(fields - listed)}"
    assert listed - fields == set(), f"{cls.__name__}: documented but gone {sorted(listed - fields)}"
