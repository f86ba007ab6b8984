"""Deprecated: moved to :mod:`batch_router_core.plugin.fastjson` (import from
``batch_router_core.plugin.fastjson``); removed in 0.3."""

from batch_router_core._deprecation import warn_moved

warn_moved(__name__, "batch_router_core.plugin.fastjson", "batch_router_core.plugin.fastjson")

from batch_router_core.plugin.fastjson import *  # noqa: E402, F403
from batch_router_core.plugin.fastjson import __all__ as __all__  # noqa: E402
