"""What every network hook receives besides its main argument."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from batch_router_core.files import GeneratedFiles, iter_jsonl
from batch_router_core.models.enums import BatchStatus
from batch_router_core.models.provider import BatchHandle, ProviderInfo

__all__ = ["ProviderContext"]


class _SecretOptions(dict[str, Any]):
    """A dict whose repr never shows values: options hold API keys."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: ..." for k in self) + "}"


@attrs.frozen(kw_only=True)
class ProviderContext:
    """The effective provider info, the user's options, where generated files go, and a logger.

    ``options`` are what the user passed for this provider (``api_key``, ``base_url``,
    ``organization``...). They may hold secrets: plugins must never log or write them. When an
    option is absent, plugins fall back to their SDK's standard environment variables.
    """

    info: ProviderInfo
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_SecretOptions, repr=False)
    files: GeneratedFiles = attrs.field(factory=GeneratedFiles)
    logger: Any = None

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self.info.name

    @property
    def workdir(self) -> Path:
        """This provider's generated-files directory (created on first use, user-only)."""
        return self.files.provider_dir(self.info.name)

    def option(self, name: str, default: Any = None) -> Any:
        """One option, or ``default``."""
        return self.options.get(name, default)

    def submitted_custom_ids(self, handle: BatchHandle) -> Iterator[str] | None:
        """The ``custom_id`` of every request submitted in ``handle``'s job, in input order, from
        batch-router's local copy of the job's requests; None when this machine has no copy (the job
        was submitted elsewhere, or without the router). ``fetch_results`` uses it to account for
        requests that appear in no result file (cancelled, expired) without downloading its
        input."""
        path = self.files.path(self.provider, handle.local_id, "requests")
        if not path.is_file():
            return None
        return (str(data["custom_id"]) for _, data in iter_jsonl(path))

    def normalize_status(self, raw_status: str) -> BatchStatus:
        """Map a raw provider status through this provider's effective YAML status map."""
        return self.info.normalize_status(raw_status)
