"""Mapping ``openai`` SDK exceptions onto batch-router's error tree: nothing from ``openai.*`` escapes."""

from __future__ import annotations

from typing import Any

from batch_router_core.plugin.sdk_errors import SdkErrorMapper

__all__ = ["map_errors"]


def _classes() -> tuple[Any, Any, Any]:
    import openai

    return openai.APIStatusError, (openai.APIConnectionError, openai.APITimeoutError), openai.OpenAIError


_MAPPER = SdkErrorMapper("openai", _classes)


def map_errors(operation: str, **ids: Any) -> Any:
    """Re-raise any SDK or transport exception as ProviderTransientError / ProviderPermanentError."""
    return _MAPPER.map(operation, **ids)
