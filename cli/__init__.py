"""The ``clust`` command line (click)."""
from .main import build_cli, main

__all__ = ["build_cli", "main"]
