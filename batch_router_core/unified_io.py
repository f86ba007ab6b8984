"""Deprecated: moved to :mod:`batch_router_core.formats.unified` (import from
``batch_router_core.formats.unified``); removed in 0.3."""

from batch_router_core._deprecation import warn_moved

warn_moved(__name__, "batch_router_core.formats.unified", "batch_router_core.formats.unified")

from batch_router_core.formats.unified import *  # noqa: E402, F403
from batch_router_core.formats.unified import __all__ as __all__  # noqa: E402
