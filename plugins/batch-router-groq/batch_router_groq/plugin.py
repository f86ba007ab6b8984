"""Groq's Batch API through the official ``groq`` SDK (entry point ``groq``).

Groq copied OpenAI's Files and Batches API under ``/openai/v1``: everything the two share is
:class:`~batch_router_core.formats.openai_batch.provider.OpenAIStyleProvider`'s. What is Groq's
own: its client, a completion window from 24 hours to 7 days (``--option completion_window=7d``),
lists that come in one page, and its emulator. The SDK is imported on the first call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from batch_router_core.formats.openai_batch.provider import OpenAIStyleProvider
from batch_router_core.plugin import hookimpl

from .errors import ERRORS

__all__ = ["GroqProvider"]


class GroqProvider(OpenAIStyleProvider):
    """Groq's Batch API."""

    name = "groq"
    defaults_package = "batch_router_groq"
    errors = ERRORS
    key_env = "GROQ_API_KEY"
    client_options = ("api_key", "base_url", "timeout")

    def build_client(self, options: Mapping[str, Any]) -> Any:
        """An ``AsyncGroq`` client; the SDK's own retries are off (core retries)."""
        from groq import AsyncGroq

        kwargs = {k: options[k] for k in ("api_key", "base_url") if options.get(k)}
        return AsyncGroq(max_retries=0, timeout=float(options.get("timeout") or 600), **kwargs)

    def sync_path(self, endpoint: str) -> str:
        """Groq serves OpenAI's paths under ``/openai``."""
        return "/openai" + endpoint

    async def iter_batches(self, client: Any) -> AsyncIterator[Any]:
        """Groq lists every batch in one answer; newest first here, as the others list them."""
        listed = await client.batches.list()
        for batch in sorted(listed.data, key=lambda b: b.created_at, reverse=True):
            yield batch

    async def iter_batch_files(self, client: Any) -> AsyncIterator[Any]:
        """Groq lists every file in one answer (no purpose filter)."""
        listed = await client.files.list()
        for f in listed.data:
            if f.purpose == "batch":
                yield f

    @hookimpl
    def create_emulator(self, options: Mapping[str, Any]) -> Any:
        """The local Groq Batch API emulator (an ASGI app)."""
        from .emulator import create_app

        return create_app(dict(options))
