"""The webhook receiver: an ASGI app that verifies deliveries and records them in the ledger.

``POST /webhooks/{provider}``: the provider's plugin verifies the delivery with its documented
scheme (``ProviderHandle.parse_webhook``), the ledger is asked which provider job the event is
about, and the event is recorded once. The receiver never calls a provider: the worker that holds
the job sees the event and polls the job at once. Answers: 200 accepted, 202 not about a batch
(ignored), 400 refused (unsigned, wrongly signed, too old, malformed), 404 unknown provider or job,
409 replay. Every refusal is logged with its reason; none is acted upon.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

from batch_router_core.errors import BatchRouterError
from batch_router_core.jobs.ledger import Ledger
from batch_router_core.logging import get_logger
from batch_router_core.webhooks.events import WebhookRejectedError

__all__ = ["create_receiver"]


def create_receiver(ledger: Ledger, secrets: Mapping[str, str], registry: Any = None) -> Any:
    """The receiver as a Starlette app, for ``ledger``, accepting deliveries from the providers in
    ``secrets`` (provider name -> signing secret). Needs the ``emulator`` extra (Starlette)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from batch_router_core.registry import BatchProviderRegistry

    registry = registry or BatchProviderRegistry()
    log = get_logger("webhooks")
    lock = threading.Lock()  # one ledger connection, used from worker threads one at a time

    def answer(code: int, provider: str, outcome: str, **fields: Any) -> JSONResponse:
        event = {200: "webhook_accepted", 202: "webhook_ignored"}.get(code, "webhook_refused")
        (log.info if code < 300 else log.warning)(
            event, provider=provider, outcome=outcome, **fields
        )
        return JSONResponse({"outcome": outcome, **fields}, status_code=code)

    def handle(provider: str, body: bytes, headers: dict[str, str]) -> JSONResponse:
        secret = secrets.get(provider)
        if secret is None:
            return answer(404, provider, "no webhook secret configured for this provider")
        try:
            event = registry.get(provider).parse_webhook(body, headers, secret)
        except WebhookRejectedError as exc:
            return answer(400, provider, "refused", reason=str(exc))
        except BatchRouterError as exc:  # an unknown provider, one that sends no webhooks
            return answer(404, provider, "refused", reason=str(exc))
        if event is None:
            return answer(202, provider, "ignored: not about a batch")
        with lock:
            job = ledger.job_by_batch_id(provider, event.batch_id)
            if job is None:
                return answer(
                    404,
                    provider,
                    "refused: no such job in the ledger",
                    event_id=event.event_id,
                    batch_id=event.batch_id,
                )
            fresh = ledger.record_webhook_event(
                provider, event.event_id, job.local_id, event.status, time.time()
            )
        if not fresh:
            return answer(409, provider, "refused: replay", event_id=event.event_id)
        return answer(
            200,
            provider,
            "accepted",
            event_id=event.event_id,
            local_id=job.local_id,
            status=event.status.value,
        )

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        provider = request.path_params["provider"]
        return await asyncio.to_thread(handle, provider, body, dict(request.headers))

    return Starlette(routes=[Route("/webhooks/{provider}", receive, methods=["POST"])])
