"""Gemini's static webhooks: what the emulator signs and shapes, the plugin verifies and reads;
anything forged, stale, malformed or not about a batch is refused or ignored."""

from __future__ import annotations

import time

import orjson
import pytest
from batch_router_google.emulator.app import gemini_event_body

from batch_router_core.plugin import BatchStatus, WebhookRejectedError
from batch_router_core.registry import BatchProviderRegistry
from batch_router_core.webhooks.signatures import new_secret, sign

_STATUS = {
    "succeeded": BatchStatus.COMPLETED,
    "failed": BatchStatus.FAILED,
    "expired": BatchStatus.EXPIRED,
    "cancelled": BatchStatus.CANCELLED,
}


@pytest.mark.parametrize("kind", sorted(_STATUS))
@pytest.mark.parametrize("batch", ["batches/abc123", "abc123"])
def test_every_batch_event_names_its_batch_as_the_plugin_records_it(kind: str, batch: str) -> None:
    handle = BatchProviderRegistry().get("google")
    secret = new_secret()
    body = gemini_event_body("wh_1", f"batch.{kind}", {"id": batch})
    event = handle.parse_webhook(body, sign(secret, "wh_1", body), secret)
    assert event is not None
    assert (event.event_id, event.batch_id, event.status, event.event_type) == (
        "wh_1",
        "batches/abc123",
        _STATUS[kind],
        f"batch.{kind}",
    )


def test_forged_stale_and_malformed_deliveries_are_refused_and_others_ignored() -> None:
    handle = BatchProviderRegistry().get("google")
    secret = new_secret()
    body = gemini_event_body("wh_1", "batch.succeeded", {"id": "batches/abc"})
    with pytest.raises(WebhookRejectedError, match="signature"):
        handle.parse_webhook(body, sign(new_secret(), "wh_1", body), secret)
    with pytest.raises(WebhookRejectedError, match="from now"):
        handle.parse_webhook(body, sign(secret, "wh_1", body, int(time.time()) - 900), secret)
    with pytest.raises(WebhookRejectedError, match="unsigned"):
        handle.parse_webhook(body, {}, secret)
    for bad, reason in [
        (b"not json", "not JSON"),
        (orjson.dumps({"data": {"id": "batches/abc"}}), "no type"),
        (orjson.dumps({"type": "batch.failed", "data": {}}), "without data.id"),
    ]:
        with pytest.raises(WebhookRejectedError, match=reason):
            handle.parse_webhook(bad, sign(secret, "wh_1", bad), secret)
    video = gemini_event_body("wh_2", "video.generated", {"id": "operations/v1"})
    assert handle.parse_webhook(video, sign(secret, "wh_2", video), secret) is None
