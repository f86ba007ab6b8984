"""``python -m batch_router_core.cli``: the ``batch-router`` command."""

from batch_router_core.cli.app import main

main()
