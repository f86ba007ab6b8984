"""Mapping ``groq`` SDK exceptions onto batch-router's error tree: nothing from ``groq.*``
escapes."""

from __future__ import annotations

from batch_router_core.plugin import SdkErrorMap

__all__ = ["ERRORS"]


def _classes() -> dict[str, tuple[type[BaseException], ...]]:
    import groq

    return {
        "status": (groq.APIStatusError,),
        "transient": (groq.APIConnectionError, groq.APITimeoutError),
        "permanent": (groq.GroqError,),
    }


ERRORS = SdkErrorMap("groq", _classes)
