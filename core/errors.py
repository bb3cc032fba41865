"""User-facing errors: one clear line, exit code 2 at the CLI, never a traceback."""


class ClustError(Exception):
    """A mistake in what the user asked for (bad input, config, data or plugin mix).

    The message is a single line that names the problem; the CLI prints it as
    ``error: <message>`` and exits with :attr:`exit_code` (2).
    """

    exit_code = 2


class DivergenceError(ClustError):
    """Training produced a NaN or infinite loss; names the step and the loss term."""


class RunInterrupted(ClustError):
    """The user stopped a run (Ctrl-C or SIGTERM); the message says how to continue it."""

    exit_code = 130


def one_line(text: str) -> str:
    """``text`` with its lines joined by spaces (what the CLI prints must be a single line)."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())
