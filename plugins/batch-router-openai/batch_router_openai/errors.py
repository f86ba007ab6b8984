"""Mapping ``openai`` SDK exceptions onto batch-router's error tree: nothing from ``openai.*``
escapes."""

from __future__ import annotations

from batch_router_core.plugin import SdkErrorMap

__all__ = ["ERRORS", "map_errors"]


def _classes() -> dict[str, tuple[type[BaseException], ...]]:
    import openai

    return {
        "status": (openai.APIStatusError,),
        "transient": (openai.APIConnectionError, openai.APITimeoutError),
        "permanent": (openai.OpenAIError,),
    }


ERRORS = SdkErrorMap("openai", _classes)
#: ``with map_errors("submit", local_id=...):`` re-raises SDK errors as ProviderTransientError /
#: ProviderPermanentError.
map_errors = ERRORS.map
