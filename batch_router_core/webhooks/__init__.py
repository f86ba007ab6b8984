"""Webhooks instead of polling: verified deliveries from providers that push batch completion.

:mod:`~batch_router_core.webhooks.signatures` holds the Standard Webhooks scheme (OpenAI and Gemini
sign this way) for emulators and plugins without an SDK helper; :mod:`~batch_router_core.webhooks
.receiver` is the ASGI app ``batch-router webhooks serve`` runs. A verified event only says "look at
this provider job now": it is recorded in the ledger, and the worker holding the job polls it at
once instead of waiting for its next poll. Polling stays the fallback.
"""

from batch_router_core.webhooks.events import WebhookEvent, WebhookRejectedError

__all__ = ["WebhookEvent", "WebhookRejectedError"]
