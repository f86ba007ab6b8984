"""Deprecated: moved to :mod:`batch_router_core.jobs.claims` (import from
``batch_router_core.jobs.claims``); removed in 0.3."""

from batch_router_core._deprecation import warn_moved

warn_moved(__name__, "batch_router_core.jobs.claims", "batch_router_core.jobs.claims")

from batch_router_core.jobs.claims import *  # noqa: E402, F403
from batch_router_core.jobs.claims import __all__ as __all__  # noqa: E402
