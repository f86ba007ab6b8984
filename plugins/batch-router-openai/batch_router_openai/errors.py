"""Mapping ``openai`` SDK exceptions onto batch-router's error tree: nothing from ``openai.*`` escapes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from batch_router_core.errors import (
    BatchRouterError,
    ProviderPermanentError,
    ProviderTransientError,
)
from batch_router_core.http_errors import error_for_status, is_transport_error

__all__ = ["map_errors"]


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", None) or exc)


@contextmanager
def map_errors(operation: str, **ids: Any) -> Iterator[None]:
    """Re-raise any SDK or transport exception as ProviderTransientError / ProviderPermanentError."""
    try:
        yield
    except BatchRouterError:
        raise
    except Exception as exc:
        import openai

        batch_id = ids.get("batch_id")
        where = f"{operation} ({', '.join(f'{k}={v}' for k, v in ids.items())})" if ids else operation
        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            err = body.get("error", body) if isinstance(body, dict) else {}
            code = err.get("code") if isinstance(err, dict) else None
            raise error_for_status(exc.status_code, f"{where}: {_message(exc)}", provider="openai",
                                   headers=exc.response.headers, code=code, batch_id=batch_id) from None
        if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)) or is_transport_error(exc):
            raise ProviderTransientError(f"{where}: connection failed: {exc}", provider="openai",
                                         batch_id=batch_id) from None
        if isinstance(exc, openai.OpenAIError):
            raise ProviderPermanentError(f"{where}: {exc}", provider="openai", batch_id=batch_id) from None
        raise
