"""Helpers plugins use to map HTTP SDK errors onto the core error tree.

Every first-party SDK (openai, anthropic, google-genai) sits on an httpx-style client; these helpers
read what they have in common: the status code, the retry hint, and transport failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ProviderError, ProviderPermanentError, ProviderTransientError

__all__ = ["TRANSIENT_STATUS", "error_for_status", "is_transport_error", "retry_after_from_headers"]

#: Statuses a retry can fix: timeout, conflict (a concurrent change), rate limit, server errors.
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})

_TRANSPORT_NAMES = {"TransportError", "NetworkError", "RemoteProtocolError", "ReadError",
                    "WriteError", "ConnectError", "TimeoutException", "ReadTimeout", "StreamError",
                    "IncompleteRead", "ConnectionError", "ProtocolError"}


def retry_after_from_headers(headers: Mapping[str, str] | Any) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds), if present."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000.0
        sec = headers.get("retry-after")
        if sec is not None:
            return float(sec)
    except (TypeError, ValueError):
        return None  # an HTTP-date: let the policy's own backoff decide
    return None


def is_transport_error(exc: BaseException) -> bool:
    """True for connection drops, truncated bodies and timeouts from any httpx-like client."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return any(cls.__name__ in _TRANSPORT_NAMES for cls in type(exc).__mro__)


def error_for_status(status: int, message: str, *, provider: str, headers: Any = None,
                     code: str | None = None, batch_id: str | None = None) -> ProviderError:
    """The core error for an HTTP error status: transient for 408/409/425/429/5xx, else permanent."""
    if status in TRANSIENT_STATUS or status >= 500:
        return ProviderTransientError(message, provider=provider, status_code=status, code=code,
                                      batch_id=batch_id, retry_after=retry_after_from_headers(headers))
    return ProviderPermanentError(message, provider=provider, status_code=status, code=code,
                                  batch_id=batch_id)
