"""One-line descriptions of low-level exceptions, for ClustError messages."""


def describe(exc: BaseException) -> str:
    """Describe an exception in one line: its type and the first line of its message.

    Args:
        exc: The exception raised by a library (PIL, numpy, torchvision, ...).

    Returns:
        For example ``"URLError: <urlopen error [Errno -3] name resolution failed>"``.
    """
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
