"""Mapping a provider SDK's exceptions onto the core error tree: one declarative map for any SDK.

:class:`SdkErrorMap` is what plugins use (a table of exception classes; the HTTP status decides for
status errors); :func:`error_for_status` serves plugins that speak HTTP themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import attrs

from batch_router_core.errors import BatchRouterError as BatchRouterErrorBase
from batch_router_core.errors import ProviderError, ProviderPermanentError, ProviderTransientError
from batch_router_core.models.enums import ResultStatus
from batch_router_core.models.results import RequestError, RequestResult

__all__ = [
    "TRANSIENT_STATUS",
    "SdkErrorMap",
    "SdkErrorMapper",
    "error_for_status",
    "is_transport_error",
    "result_for_error",
    "retry_after_from_headers",
]

#: Statuses a retry can fix: timeout, conflict (a concurrent change), rate limit, server errors.
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})

_TRANSPORT_NAMES = {
    "TransportError",
    "NetworkError",
    "RemoteProtocolError",
    "ReadError",
    "WriteError",
    "ConnectError",
    "TimeoutException",
    "ReadTimeout",
    "StreamError",
    "IncompleteRead",
    "ConnectionError",
    "ProtocolError",
    # aiohttp (google-genai's async transport): a dropped connection or a cut body
    "ClientPayloadError",
    "ClientConnectionError",
    "ServerTimeoutError",
}


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
    """True for connection drops, truncated bodies and timeouts from any httpx-like client (not for
    an
    error in the request itself, such as an illegal header value: sending it again cannot help)."""
    if _client_side(exc) is not None:
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return any(cls.__name__ in _TRANSPORT_NAMES for cls in type(exc).__mro__)


def error_for_status(
    status: int,
    message: str,
    *,
    provider: str,
    headers: Any = None,
    code: str | None = None,
    batch_id: str | None = None,
    transient_status: frozenset[int] = TRANSIENT_STATUS,
) -> ProviderError:
    """The core error for an HTTP error status: transient for ``transient_status`` (408, 409, 425,
    429) and every 5xx, else permanent."""
    if status in transient_status or status >= 500:
        return ProviderTransientError(
            message,
            provider=provider,
            status_code=status,
            code=code,
            batch_id=batch_id,
            retry_after=retry_after_from_headers(headers),
        )
    return ProviderPermanentError(
        message, provider=provider, status_code=status, code=code, batch_id=batch_id
    )


def _body_error(exc: Any) -> tuple[str | None, str | None]:
    """(message, code) from an SDK error's JSON body (OpenAI, Anthropic and Google shapes)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            message = err.get("message")
            code = err.get("code") or err.get("type") or err.get("status")
            return (str(message) if message else None), (str(code) if code else None)
    message = getattr(exc, "message", None)
    status = getattr(
        exc, "status", None
    )  # google-genai: the gRPC-style name, e.g. RESOURCE_EXHAUSTED
    return (
        (str(message) if isinstance(message, str) and message else None),
        (status if isinstance(status, str) and status else None),
    )


def _status_of(exc: Any, attributes: tuple[str, ...]) -> int | None:
    """The HTTP status an SDK exception carries, from the first attribute that holds an int."""
    for name in attributes:
        value: Any = exc
        for part in name.split("."):
            value = getattr(value, part, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


def _headers_of(exc: Any) -> Any:
    # ``raw_response``: Speakeasy-generated SDKs (mistralai) keep the HTTP answer there.
    response = getattr(exc, "response", None) or getattr(exc, "raw_response", None)
    headers = getattr(response, "headers", None)
    return headers if headers is not None else getattr(exc, "headers", None)


#: Exceptions raised before anything was sent: a retry sends the same bad request again.
_CLIENT_SIDE_NAMES = {
    "LocalProtocolError",
    "InvalidURL",
    "UnsupportedProtocol",
    "InvalidHeader",
    "UnicodeEncodeError",
}


def _client_side(exc: BaseException) -> BaseException | None:
    """The client-side cause of ``exc`` (an illegal header, a bad URL), following ``__cause__``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(cls.__name__ in _CLIENT_SIDE_NAMES for cls in type(current).__mro__):
            return current
        current = current.__cause__ or current.__context__
    return None


@attrs.frozen
class SdkErrorMap:
    """A declarative map from one SDK's exceptions to the core error tree; works for any SDK.

    :param provider: the provider name put on the errors.
    :param load: returns the table ``{"status": classes, "transient": classes,
        "permanent": classes}``; called on first use, so that plugins do not import their SDK at
        import time.

        * ``status``: exceptions carrying an HTTP status (read from ``status_attributes``); the
          status decides, through ``transient_status``.
        * ``transient``: exceptions a retry can fix (connection errors, timeouts).
        * ``permanent``: everything else the SDK raises (its base error class).

        Connection failures of any httpx/aiohttp-style transport are transient even when the SDK
        lets them through; an error caused by the request itself (an illegal header value, a bad
        URL) is permanent even inside the SDK's connection error, because a retry would send the
        same request again.
    :param status_attributes: where the status code lives (dotted paths, first int wins).
    :param transient_status: statuses a retry can fix (besides every 5xx).

    ::

        ERRORS = SdkErrorMap("acme", lambda: {"status": (acme.ApiError,),
                                              "transient": (acme.ConnectionError,),
                                              "permanent": (acme.AcmeError,)})

        with ERRORS.map("submit", local_id=prepared.local_id):
            job = await client.jobs.create(...)
    """

    provider: str
    load: Callable[[], Mapping[str, tuple[type[BaseException], ...]]] = attrs.field(repr=False)
    status_attributes: tuple[str, ...] = ("status_code", "status", "code", "response.status_code")
    transient_status: frozenset[int] = TRANSIENT_STATUS
    _tables: dict[str, tuple[type[BaseException], ...]] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    def _table(self, kind: str) -> tuple[type[BaseException], ...]:
        if not self._tables:
            loaded = self.load()
            unknown = set(loaded) - {"status", "transient", "permanent"}
            if unknown:
                raise ValueError(
                    f"SdkErrorMap tables are status/transient/permanent, not {sorted(unknown)}"
                )
            self._tables.update(
                {k: tuple(loaded.get(k, ())) for k in ("status", "transient", "permanent")}
            )
        return self._tables[kind]

    def map(self, operation: str, **ids: Any) -> AbstractContextManager[None]:
        """A context manager: any SDK or transport exception inside becomes a core error."""
        return _Mapping(self, operation, ids)

    def translate(self, exc: BaseException, operation: str, **ids: Any) -> BaseException:
        """The core error for one exception (core's own errors and unknown ones come back
        unchanged)."""
        if isinstance(exc, BatchRouterErrorBase):
            return exc
        batch_id = ids.get("batch_id")
        where = (
            f"{operation} ({', '.join(f'{k}={v}' for k, v in ids.items())})" if ids else operation
        )
        client_side = _client_side(exc)
        if client_side is not None:
            return ProviderPermanentError(
                f"{where}: the request could not be sent ({type(client_side).__name__}: "
                f"{client_side}); "
                "check the options (API key, base URL)",
                provider=self.provider,
                batch_id=batch_id,
            )
        status = (
            _status_of(exc, self.status_attributes)
            if isinstance(exc, self._table("status"))
            else None
        )
        if status is not None:
            message, code = _body_error(exc)
            return error_for_status(
                status,
                f"{where}: {message or exc}",
                provider=self.provider,
                headers=_headers_of(exc),
                code=code,
                batch_id=batch_id,
                transient_status=self.transient_status,
            )
        if isinstance(exc, self._table("transient")) or is_transport_error(exc):
            return ProviderTransientError(
                f"{where}: connection failed: {exc}", provider=self.provider, batch_id=batch_id
            )
        if isinstance(exc, self._table("permanent") + self._table("status")):
            return ProviderPermanentError(
                f"{where}: {type(exc).__name__}: {exc}", provider=self.provider, batch_id=batch_id
            )
        return exc


class _Mapping(AbstractContextManager[None]):
    def __init__(self, errors: SdkErrorMap, operation: str, ids: Mapping[str, Any]) -> None:
        self._errors, self._operation, self._ids = errors, operation, ids

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, Exception):
            mapped = self._errors.translate(exc, self._operation, **self._ids)
            if mapped is not exc:
                raise mapped from None


def SdkErrorMapper(provider: str, load: Callable[[], tuple[Any, Any, Any]]) -> SdkErrorMap:  # noqa: N802
    """The 0.1 constructor: ``load`` returns ``(status_error_class, connection_error_classes,
    base_error_class)``. Kept for compatibility; new plugins build :class:`SdkErrorMap` directly."""

    def tables() -> dict[str, tuple[type[BaseException], ...]]:
        status, connection, base = load()
        connection = connection if isinstance(connection, tuple) else (connection,)
        return {"status": (status,), "transient": connection, "permanent": (base,)}

    return SdkErrorMap(provider, tables)


def result_for_error(
    custom_id: str, exc: ProviderError, *, provider: str, model: str | None
) -> RequestResult:
    """A provider's refusal of one request (in ``execute_now``) as that request's ERRORED result."""
    return RequestResult(
        custom_id=custom_id,
        status=ResultStatus.ERRORED,
        provider=provider,
        model=model,
        error=RequestError(message=str(exc), code=exc.code, status_code=exc.status_code),
    )
