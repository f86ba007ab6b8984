"""Small ASGI middlewares shared by the emulators."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["counting"]


def counting(
    app: Any, counts: MutableMapping[str, int], key: Callable[[str, str], str | None]
) -> Any:
    """Count requests by ``key(method, path)`` (None: not counted) before anything else runs, so
    that
    tests can assert on what reached the service, faulted and refused requests included."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            k = key(scope["method"], scope["path"])
            if k is not None:
                counts[k] = counts.get(k, 0) + 1
        await app(scope, receive, send)

    return middleware
