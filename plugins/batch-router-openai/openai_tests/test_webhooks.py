"""OpenAI's webhooks through the SDK's own verifier: what the emulator signs, `webhooks.unwrap`
accepts; anything forged, stale or not about a batch is refused or ignored."""

from __future__ import annotations

import time

import pytest

from batch_router_core.emulation.webhooks import event_body
from batch_router_core.plugin import BatchStatus, WebhookRejectedError
from batch_router_core.registry import BatchProviderRegistry
from batch_router_core.webhooks.signatures import new_secret, sign, verify


def _body(kind: str, object_id: str, event_id: str = "evt_1") -> bytes:
    return event_body(event_id, kind, {"id": object_id})


@pytest.mark.parametrize("kind", ["completed", "failed", "expired", "cancelled"])
def test_every_batch_event_is_read_after_the_sdk_verified_it(kind: str) -> None:
    handle = BatchProviderRegistry().get("openai")
    secret = new_secret()
    body = _body(f"batch.{kind}", "batch_abc")
    headers = sign(secret, "evt_1", body)
    assert verify(secret, body, headers) == "evt_1"  # our scheme and the SDK's agree
    event = handle.parse_webhook(body, headers, secret)
    assert event is not None
    assert (event.event_id, event.batch_id, event.status) == (
        "evt_1",
        "batch_abc",
        BatchStatus(kind),
    )


def test_forged_and_stale_deliveries_are_refused_and_others_ignored() -> None:
    handle = BatchProviderRegistry().get("openai")
    secret = new_secret()
    body = _body("batch.completed", "batch_abc")
    with pytest.raises(WebhookRejectedError, match="signature"):
        handle.parse_webhook(body, sign(new_secret(), "evt_1", body), secret)
    with pytest.raises(WebhookRejectedError, match="too old"):
        handle.parse_webhook(body, sign(secret, "evt_1", body, int(time.time()) - 900), secret)
    with pytest.raises(WebhookRejectedError):
        handle.parse_webhook(body, {}, secret)
    other = _body("fine_tuning.job.succeeded", "ftjob_1")
    assert handle.parse_webhook(other, sign(secret, "evt_1", other), secret) is None
