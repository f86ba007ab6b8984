"""Deprecated: moved to :mod:`batch_router_core.jobs.sync` (import from
``batch_router_core.jobs.sync``); removed in 0.3."""

from batch_router_core._deprecation import warn_moved

warn_moved(__name__, "batch_router_core.jobs.sync", "batch_router_core.jobs.sync")

from batch_router_core.jobs.sync import *  # noqa: E402, F403
from batch_router_core.jobs.sync import __all__ as __all__  # noqa: E402
