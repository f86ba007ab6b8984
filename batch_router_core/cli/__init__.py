"""The ``batch-router`` command (``python -m batch_router_core.cli``).

``app`` holds the command group and the plugin commands (``providers``, ``emulate``,
``new-plugin``); ``batches`` the commands that take an input file (``prepare``, ``submit``,
``run``); ``jobs`` those on recorded jobs (``status``, ``wait``, ``results``, ``cancel``, ``jobs``,
``resume``, ``retry-failed``); ``_shared`` what they share (exit codes, error reporting, progress).
"""

from batch_router_core.cli import batches, jobs, webhooks, worker  # noqa: F401  (importing them registers their commands)
from batch_router_core.cli.app import main

__all__ = ["main"]
