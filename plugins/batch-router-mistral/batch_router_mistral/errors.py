"""Mapping ``mistralai`` SDK exceptions onto batch-router's error tree: nothing from
``mistralai.*`` escapes."""

from __future__ import annotations

from batch_router_core.plugin import SdkErrorMap

__all__ = ["ERRORS"]


def _classes() -> dict[str, tuple[type[BaseException], ...]]:
    import httpx
    from mistralai.client import errors

    return {
        # Every HTTP error answer (its status_code decides).
        "status": (errors.MistralError,),
        # The SDK lets the transport's errors through, and says when no answer came.
        "transient": (httpx.TransportError, errors.NoResponseError),
        "permanent": (errors.ResponseValidationError, httpx.HTTPError),
    }


ERRORS = SdkErrorMap("mistral", _classes)
