"""What the registry knows about one loaded plugin."""

from __future__ import annotations

from typing import Any

import attrs

from batch_router_core.models.provider import ProviderInfo

__all__ = ["PluginRecord"]


@attrs.frozen(kw_only=True)
class PluginRecord:
    """One loaded plugin: its name, where it came from, and (for providers) what it declares."""

    name: str
    plugin: Any = attrs.field(repr=False, eq=False)
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None
    info: ProviderInfo | None = None

    @property
    def is_provider(self) -> bool:
        """True for provider plugins; False for cross-cutting (observer) plugins."""
        return self.info is not None
