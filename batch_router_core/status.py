"""Deprecated: moved to :mod:`batch_router_core.registry.status` (import from
``batch_router_core``); removed in 0.3."""

from batch_router_core._deprecation import warn_moved

warn_moved(__name__, "batch_router_core.registry.status", "batch_router_core")

from batch_router_core.registry.status import *  # noqa: E402, F403
from batch_router_core.registry.status import __all__ as __all__  # noqa: E402
