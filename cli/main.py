"""``clust``: the command group, its error handling and plugin subcommands."""
from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import ClustError
from ..registry import Registry, load_registry
from .inspect import plugins_command
from .predict import eval_command, predict_command
from .run import run_command


class ClustGroup(click.Group):
    """A click group that turns :class:`ClustError` into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClustError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


def build_cli(registry: Registry | None = None) -> click.Group:
    """The ``clust`` group with core's commands and those plugins add (``clust_cli_commands``)."""

    @click.group(cls=ClustGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="clust-core", prog_name="clust")
    def cli() -> None:
        """Deep image clustering: run published methods as plugins, compare them, assign new images."""

    for command in (plugins_command, run_command, eval_command, predict_command):
        cli.add_command(command)
    try:
        registry = registry or load_registry()
    except ClustError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    registry.manager.hook.clust_cli_commands(cli=cli)
    return cli


def main() -> None:
    """Console entry point of ``clust``."""
    build_cli()()
