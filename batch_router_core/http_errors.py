"""Helpers plugins use to map HTTP SDK errors onto the core error tree.

Every first-party SDK (openai, anthropic, google-genai) sits on an httpx-style client; these helpers
read what they have in common: the status code, the retry hint, and transport failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import BatchRouterError as BatchRouterErrorBase
from .errors import ProviderError, ProviderPermanentError, ProviderTransientError

__all__ = [
    "TRANSIENT_STATUS",
    "SdkErrorMapper",
    "error_for_status",
    "is_transport_error",
    "result_for_error",
    "retry_after_from_headers",
]

#: Statuses a retry can fix: timeout, conflict (a concurrent change), rate limit, server errors.
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})

_TRANSPORT_NAMES = {"TransportError", "NetworkError", "RemoteProtocolError", "ReadError",
                    "WriteError", "ConnectError", "TimeoutException", "ReadTimeout", "StreamError",
                    "IncompleteRead", "ConnectionError", "ProtocolError",
                    # aiohttp (google-genai's async transport): a dropped connection or a cut body
                    "ClientPayloadError", "ClientConnectionError", "ServerTimeoutError"}


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


def _body_error(exc: Any) -> tuple[str | None, str | None]:
    """(message, code) from a Stainless-style SDK error body (OpenAI and Anthropic shapes)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            message = err.get("message")
            code = err.get("code") or err.get("type")
            return (str(message) if message else None), (str(code) if code else None)
    return None, None


class SdkErrorMapper:
    """Maps a Stainless-generated SDK's exceptions (openai, anthropic) onto the core error tree.

    :param provider: the provider name put on the errors.
    :param load: returns ``(status_error_class, connection_error_classes, base_error_class)``; called
        lazily so that plugins do not import their SDK at import time.
    """

    def __init__(self, provider: str, load: Any) -> None:
        self.provider = provider
        self._load = load
        self._classes: Any = None

    def map(self, operation: str, **ids: Any) -> Any:
        """A context manager: any SDK or transport exception inside becomes a core error."""
        from contextlib import contextmanager

        @contextmanager
        def mapping() -> Any:
            try:
                yield
            except BatchRouterErrorBase:
                raise
            except Exception as exc:
                raise self.translate(exc, operation, **ids) from None

        return mapping()

    def translate(self, exc: Exception, operation: str, **ids: Any) -> Exception:
        """The core error for one SDK exception (other exceptions are returned unchanged)."""
        if self._classes is None:
            self._classes = self._load()
        status_error, connection_errors, base_error = self._classes
        batch_id = ids.get("batch_id")
        where = f"{operation} ({', '.join(f'{k}={v}' for k, v in ids.items())})" if ids else operation
        if isinstance(exc, status_error):
            message, code = _body_error(exc)
            return error_for_status(exc.status_code, f"{where}: {message or exc}", provider=self.provider,
                                    headers=exc.response.headers, code=code, batch_id=batch_id)
        if isinstance(exc, connection_errors) or is_transport_error(exc):
            return ProviderTransientError(f"{where}: connection failed: {exc}", provider=self.provider,
                                          batch_id=batch_id)
        if isinstance(exc, base_error):
            return ProviderPermanentError(f"{where}: {exc}", provider=self.provider, batch_id=batch_id)
        return exc



def result_for_error(custom_id: str, exc: ProviderError, *, provider: str, model: str | None) -> Any:
    """A provider's refusal of one request (in ``execute_now``) as that request's ERRORED result."""
    from .models.enums import ResultStatus
    from .models.results import RequestError, RequestResult

    return RequestResult(custom_id=custom_id, status=ResultStatus.ERRORED, provider=provider, model=model,
                         error=RequestError(message=str(exc), code=exc.code, status_code=exc.status_code))
