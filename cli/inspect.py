"""``clust plugins``: what is installed."""
from __future__ import annotations

import click

from ..augment import BUILTIN_AUGMENTATIONS
from ..components import KINDS
from ..engine.schedules import BUILTIN_SCHEDULES
from ..registry import Registry


_PLURAL = {"representation": "representations", "pseudo_labeler": "pseudo-labelers", "loss": "losses",
           "assignment": "assignments", "loop": "loops"}


@click.command("plugins")
@click.pass_obj
def plugins_command(registry: Registry) -> None:
    """List plugins (broken ones with their error), components by kind, recipes, augmentations and schedules."""
    click.echo("plugins:")
    for info in registry.plugins.values():
        status = f"  BROKEN: {info.error}" if info.error else ""
        click.echo(f"  {info.name:<12} {info.distribution} {info.version}{status}")
    for kind in KINDS:
        click.echo(f"{_PLURAL[kind]}:")
        for name, spec in sorted(registry.components[kind].items()):
            click.echo(f"  {name:<28} {spec.doc}")
    click.echo("recipes:")
    for name, recipe in sorted(registry.recipes.items()):
        click.echo(f"  {name:<28} ({recipe.plugin}) {recipe.doc}")
    click.echo("augmentations:")
    click.echo(f"  {', '.join(sorted({*BUILTIN_AUGMENTATIONS, *registry.augmentations}))}")
    click.echo("schedules:")
    click.echo(f"  {', '.join(sorted({*BUILTIN_SCHEDULES, *registry.schedules}))}")
