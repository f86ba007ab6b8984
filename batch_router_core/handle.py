"""Deprecated: moved to :mod:`batch_router_core.registry.handle` (import from
``batch_router_core``); removed in 0.3."""

from batch_router_core._deprecation import warn_moved

warn_moved(__name__, "batch_router_core.registry.handle", "batch_router_core")

from batch_router_core.registry.handle import *  # noqa: E402, F403
from batch_router_core.registry.handle import __all__ as __all__  # noqa: E402
