"""``clust``: the command group, its error handling and plugin subcommands.

Every failure ends with one ``error: …`` line on stderr: a :class:`ClustError`
with its exit code (2; 130 for an interrupted run), click's usage errors with
2, and any other exception with 2 and a line naming it (``CLUST_DEBUG=1``
shows its traceback instead).
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import attrs
import click

from ..errors import ClustError, RunInterrupted, one_line
from ..registry import Registry, call_plugin_hook, load_registry
from . import output
from .bench import bench_command
from .inspect import plugins_command
from .predict import eval_command, predict_command
from .run import run_command
from .show import show_command

DEBUG_ENV = "CLUST_DEBUG"
"""Set to 1 to see the traceback of an unexpected exception instead of its one-line summary."""


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {one_line(message) or 'failed'}", err=True)
    sys.exit(code)


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM behaves like Ctrl-C: the run stops cleanly and says how to continue it."""
    raise KeyboardInterrupt


class ClustGroup(click.Group):
    """A click group whose every failure is one ``error:`` line on stderr."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        previous = signal.getsignal(signal.SIGTERM)
        try:
            signal.signal(signal.SIGTERM, _terminate)
        except ValueError:  # not the main thread
            previous = None
        try:
            with output.command_output():
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except ClustError as exc:
            _fail(str(exc), exc.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort):
            _fail("interrupted", RunInterrupted.exit_code)
        except click.ClickException as exc:  # usage errors: a bad option value, a missing argument
            _fail(exc.format_message(), 2)
        except Exception as exc:  # noqa: BLE001 - no input may end in a traceback
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                raise
            _fail(f"unexpected {type(exc).__name__}: {one_line(str(exc))[:300] or 'no message'} "
                  f"(rerun with {DEBUG_ENV}=1 for the traceback)")
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


def build_cli(registry: Registry | None = None) -> click.Group:
    """The ``clust`` group with core's commands and those plugins add (``clust_cli_commands``)."""

    registry = registry or load_registry()

    @click.group(cls=ClustGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="clust-core", prog_name="clust")
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        """Deep image clustering: run published methods as plugins, compare them, assign new images."""
        ctx.obj = registry

    for command in (plugins_command, run_command, show_command, bench_command, eval_command, predict_command):
        cli.add_command(command)
    _add_plugin_commands(registry, cli)
    return cli


def _add_plugin_commands(registry: Registry, cli: click.Group) -> None:
    """Let each working plugin add subcommands; one that fails is marked broken, the rest go on."""
    for info in registry.working:
        module = registry.manager.get_plugin(info.name)
        try:
            call_plugin_hook(registry.manager, module, "clust_cli_commands", cli=cli)
        except BaseException as exc:  # noqa: BLE001 - a plugin's mistake (even SystemExit) must not take the CLI down
            registry.plugins[info.name] = attrs.evolve(info, error=f"clust_cli_commands failed: {exc!r}")


def main() -> None:
    """Console entry point of ``clust``."""
    try:
        cli = build_cli()
    except ClustError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", RunInterrupted.exit_code)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        _fail(f"unexpected {type(exc).__name__} while loading plugins: {one_line(str(exc))[:300]} "
              f"(rerun with {DEBUG_ENV}=1 for the traceback)")
    cli()
