"""Mapping ``together`` SDK exceptions onto batch-router's error tree: nothing from
``together.*`` escapes."""

from __future__ import annotations

from batch_router_core.plugin import SdkErrorMap

__all__ = ["ERRORS"]


def _classes() -> dict[str, tuple[type[BaseException], ...]]:
    import together

    return {
        "status": (together.APIStatusError,),
        "transient": (together.APIConnectionError, together.APITimeoutError),
        "permanent": (together.TogetherError,),
    }


ERRORS = SdkErrorMap("together", _classes)
