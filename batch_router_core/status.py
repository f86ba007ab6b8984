"""Normalising provider statuses through the YAML status maps."""

from __future__ import annotations

from .errors import UnknownProviderStatusError
from .models.enums import BatchStatus
from .models.provider import ProviderInfo

__all__ = ["normalize_provider_status"]


def normalize_provider_status(provider: ProviderInfo | str, raw_status: str, *,
                              registry: object | None = None) -> BatchStatus:
    """Map a provider's raw status to a :class:`BatchStatus` through its YAML ``status_map``.

    ``provider`` is a :class:`ProviderInfo` (plugins pass ``context.info``) or a provider name, looked
    up in ``registry`` (a :class:`~batch_router_core.registry.BatchProviderRegistry`; a fresh one
    when omitted). Lookups are exact first, then case-insensitive. An unknown raw status raises
    :class:`UnknownProviderStatusError` rather than silently becoming a wrong state.
    """
    if isinstance(provider, str):
        from .registry import BatchProviderRegistry

        reg = registry if isinstance(registry, BatchProviderRegistry) else BatchProviderRegistry()
        info = reg.get(provider).info
    else:
        info = provider
    found = info.status_map.get(raw_status)
    if found is None:
        lowered = raw_status.lower()
        for key, value in info.status_map.items():
            if key.lower() == lowered:
                found = value
                break
    if found is None:
        raise UnknownProviderStatusError(info.name, raw_status, sorted(info.status_map))
    return found
