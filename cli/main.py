"""``clust``: the command group, its error handling and plugin subcommands."""
from __future__ import annotations

import sys
from typing import Any

import attrs
import click

from ..errors import ClustError
from ..registry import Registry, call_plugin_hook, load_registry
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

    registry = registry or load_registry()

    @click.group(cls=ClustGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="clust-core", prog_name="clust")
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        """Deep image clustering: run published methods as plugins, compare them, assign new images."""
        ctx.obj = registry

    for command in (plugins_command, run_command, eval_command, predict_command):
        cli.add_command(command)
    _add_plugin_commands(registry, cli)
    return cli


def _add_plugin_commands(registry: Registry, cli: click.Group) -> None:
    """Let each working plugin add subcommands; one that fails is marked broken, the rest go on."""
    for info in registry.working:
        module = registry.manager.get_plugin(info.name)
        try:
            call_plugin_hook(registry.manager, module, "clust_cli_commands", cli=cli)
        except Exception as exc:  # noqa: BLE001 - a plugin's mistake must not take the CLI down
            registry.plugins[info.name] = attrs.evolve(info, error=f"clust_cli_commands failed: {exc!r}")


def main() -> None:
    """Console entry point of ``clust``."""
    build_cli()()
