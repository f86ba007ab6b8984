"""Deprecated: moved to :mod:`batch_router_core.jobs.ledger` (import from
``batch_router_core.jobs.ledger``); removed in 0.3."""

from batch_router_core._deprecation import warn_moved

warn_moved(__name__, "batch_router_core.jobs.ledger", "batch_router_core.jobs.ledger")

from batch_router_core.jobs.ledger import *  # noqa: E402, F403
from batch_router_core.jobs.ledger import __all__ as __all__  # noqa: E402
