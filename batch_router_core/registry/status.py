"""Normalising provider statuses by provider name (plugins use ``context.normalize_status``)."""

from __future__ import annotations

from batch_router_core.models.enums import BatchStatus
from batch_router_core.models.provider import ProviderInfo

__all__ = ["normalize_provider_status"]


def normalize_provider_status(
    provider: ProviderInfo | str, raw_status: str, *, registry: object | None = None
) -> BatchStatus:
    """Map a provider's raw status to a :class:`BatchStatus` through its YAML ``status_map``.

    ``provider`` is a :class:`ProviderInfo` or a provider name, looked up in ``registry`` (a
    :class:`~batch_router_core.registry.BatchProviderRegistry`; a fresh one when omitted). See
    :meth:`ProviderInfo.normalize_status`.
    """
    if isinstance(provider, str):
        from batch_router_core.registry.discovery import BatchProviderRegistry

        reg = registry if isinstance(registry, BatchProviderRegistry) else BatchProviderRegistry()
        return reg.info(provider).normalize_status(raw_status)
    return provider.normalize_status(raw_status)
