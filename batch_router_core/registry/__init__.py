"""The provider registry: plugin discovery through entry points, and the typed facade over each
plugin.

:class:`BatchProviderRegistry` finds the installed plugins (``discovery``) and hands out a
:class:`ProviderHandle` (``handle``), the one place core calls a provider's hooks.
"""

from batch_router_core.registry.discovery import (
    ALLOW_ENV,
    BLOCK_ENV,
    ENTRY_POINT_GROUP,
    REQUIRED_HOOKS,
    BatchProviderRegistry,
    PluginRecord,
)
from batch_router_core.registry.handle import ProviderHandle
from batch_router_core.registry.status import normalize_provider_status

__all__ = [
    "ALLOW_ENV",
    "BLOCK_ENV",
    "ENTRY_POINT_GROUP",
    "REQUIRED_HOOKS",
    "BatchProviderRegistry",
    "PluginRecord",
    "ProviderHandle",
    "normalize_provider_status",
]
