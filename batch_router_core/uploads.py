"""Deprecated: moved to :mod:`batch_router_core.plugin.uploads` (import from
``batch_router_core.plugin``); removed in 0.3."""

from batch_router_core._deprecation import warn_moved

warn_moved(__name__, "batch_router_core.plugin.uploads", "batch_router_core.plugin")

from batch_router_core.plugin.uploads import *  # noqa: E402, F403
from batch_router_core.plugin.uploads import __all__ as __all__  # noqa: E402
