"""The ``batch-router`` command (``app``: the click commands; ``python -m
batch_router_core.cli``)."""

from batch_router_core.cli.app import main

__all__ = ["main"]
