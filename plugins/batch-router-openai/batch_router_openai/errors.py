"""Mapping ``openai`` SDK exceptions onto batch-router's error tree: nothing from ``openai.*``
escapes."""

from __future__ import annotations

from batch_router_core.formats.openai_batch.provider import openai_sdk_errors

__all__ = ["ERRORS", "map_errors"]

ERRORS = openai_sdk_errors("openai")
#: ``with map_errors("submit", local_id=...):`` re-raises SDK errors as ProviderTransientError /
#: ProviderPermanentError.
map_errors = ERRORS.map
