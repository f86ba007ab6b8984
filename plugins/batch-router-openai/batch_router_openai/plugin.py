"""The OpenAI provider's hook implementations (entry point ``openai``: :class:`OpenAIProvider`).

Everything OpenAI shares with the services that copied its batch API lives in
:mod:`batch_router_core.formats.openai_batch.provider`; what is OpenAI's own is here: its client,
its webhooks and its emulator. The ``openai`` SDK is imported on the first network call, never at
import time, so discovery (``batch-router providers``) stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batch_router_core.formats.openai_batch.provider import TAG_KEY, OpenAIStyleProvider
from batch_router_core.plugin import (
    BatchStatus,
    ProviderContext,
    WebhookEvent,
    WebhookRejectedError,
    hookimpl,
)

from .errors import ERRORS

__all__ = ["TAG_KEY", "OpenAIProvider"]

#: OpenAI's batch events and the status each announces.
_WEBHOOK_STATUS = {
    "batch.completed": BatchStatus.COMPLETED,
    "batch.failed": BatchStatus.FAILED,
    "batch.expired": BatchStatus.EXPIRED,
    "batch.cancelled": BatchStatus.CANCELLED,
}


class OpenAIProvider(OpenAIStyleProvider):
    """OpenAI's Batch API through the ``openai`` SDK."""

    name = "openai"
    defaults_package = "batch_router_openai"
    errors = ERRORS
    key_env = "OPENAI_API_KEY"
    client_options = ("api_key", "base_url", "organization", "project", "timeout")

    def build_client(self, options: Mapping[str, Any]) -> Any:
        """An ``AsyncOpenAI`` client; the SDK's own retries are off (core retries)."""
        from openai import AsyncOpenAI

        kwargs = {
            k: options[k]
            for k in ("api_key", "base_url", "organization", "project")
            if options.get(k)
        }
        return AsyncOpenAI(max_retries=0, timeout=float(options.get("timeout") or 600), **kwargs)

    @hookimpl
    def create_emulator(self, options: Mapping[str, Any]) -> Any:
        """The local OpenAI Batch API emulator (an ASGI app)."""
        from .emulator import create_app

        return create_app(dict(options))

    @hookimpl
    def parse_webhook(
        self, body: bytes, headers: Mapping[str, str], secret: str, context: ProviderContext
    ) -> WebhookEvent | None:
        """Verify with the SDK's own ``webhooks.unwrap`` (Standard Webhooks: signature, timestamp
        within five minutes), then read the batch id of a ``batch.*`` event."""
        import openai
        from openai.types.webhooks import (
            BatchCancelledWebhookEvent,
            BatchCompletedWebhookEvent,
            BatchExpiredWebhookEvent,
            BatchFailedWebhookEvent,
        )

        # unwrap makes no request: the client only carries the secret (the key is never used).
        client = openai.OpenAI(api_key="unused-for-webhooks", webhook_secret=secret)
        try:
            event = client.webhooks.unwrap(body, dict(headers))
        except (openai.InvalidWebhookSignatureError, ValueError) as exc:
            raise WebhookRejectedError(f"openai webhook refused: {exc}") from exc
        batch_events = (
            BatchCompletedWebhookEvent,
            BatchFailedWebhookEvent,
            BatchExpiredWebhookEvent,
            BatchCancelledWebhookEvent,
        )
        if not isinstance(event, batch_events):
            return None
        status = _WEBHOOK_STATUS[event.type]
        return WebhookEvent(
            event_id=str(event.id),
            batch_id=str(event.data.id),
            status=status,
            event_type=event.type,
        )
