"""SDK clients cached per event loop, for plugins.

Async SDK clients hold connection pools bound to the loop that created them; a plugin called from
several loops (``asyncio.run`` per call, the online path's loop thread) needs one client per loop
and per set of options. Entries go away with their loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["per_loop"]

_CACHE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Any]] = (
    weakref.WeakKeyDictionary()
)


def per_loop(key: Hashable, build: Callable[[], Any]) -> Any:
    """The object cached under ``key`` for the running loop, built with ``build()`` the first
    time."""
    cache = _CACHE.setdefault(asyncio.get_running_loop(), {})
    if key not in cache:
        cache[key] = build()
    return cache[key]
