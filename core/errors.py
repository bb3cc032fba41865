"""User-facing errors: one clear line, exit code 2 at the CLI, never a traceback."""


class ClustError(Exception):
    """A mistake in what the user asked for (bad input, config, data or plugin mix).

    The message is a single line that names the problem; the CLI prints it as
    ``error: <message>`` and exits with status 2.
    """


class DivergenceError(ClustError):
    """Training produced a NaN or infinite loss; names the step and the loss term."""
