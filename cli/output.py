"""What the CLI prints on stderr: one ``error:`` line, and ``note:``/``warning:`` lines that never precede it.

Notes and warnings are held back until the command has validated what it was
asked (:func:`release`); a command that fails before then prints only its
error line. Python warnings (a skipped image, a slow fallback) become single
``warning:`` lines instead of Python's two-line ``file:line`` format.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import click

from ..errors import one_line

_held: list[str] | None = None
"""Lines waiting for :func:`release`; None once released (or outside a command)."""


def _emit(line: str) -> None:
    if _held is None:
        click.echo(line, err=True)
    else:
        _held.append(line)


def note(text: str) -> None:
    """Print ``note: TEXT`` (held until :func:`release` while a command is validating)."""
    _emit(f"note: {one_line(text)}")


def warning(text: str) -> None:
    """Print ``warning: TEXT`` (held like a note)."""
    _emit(f"warning: {one_line(text)}")


def progress(text: str) -> None:
    """A progress line of a run (``[stage] epoch=…``); it comes after validation, so it is never held."""
    release()
    click.echo(one_line(text), err=True)


def release() -> None:
    """Print the held notes and warnings; later ones print at once."""
    global _held
    held, _held = _held, None
    for line in held or ():
        click.echo(line, err=True)


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    warning(str(message))


@contextlib.contextmanager
def command_output() -> Iterator[None]:
    """Hold notes and warnings for the duration of one command; drop them if it fails."""
    global _held
    _held = []
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            yield
        except BaseException:
            _held = None
            raise
        release()
