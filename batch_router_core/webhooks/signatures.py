"""The Standard Webhooks signature scheme (https://www.standardwebhooks.com), as OpenAI and Gemini
sign their deliveries: ``webhook-signature: v1,<base64 HMAC-SHA256>`` of
``"{webhook-id}.{webhook-timestamp}.{body}"`` under the secret (``whsec_`` + base64 key), the
timestamp within a tolerance of now. Used by the emulators to sign and by plugins whose SDK has no
verifier; where an official helper exists (OpenAI's ``webhooks.unwrap``) the plugin uses that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from batch_router_core.webhooks.events import WebhookRejectedError

__all__ = ["new_secret", "sign", "verify"]

#: How far a delivery's timestamp may be from now (seconds): older ones are refused as replays.
TOLERANCE_S = 300


def new_secret() -> str:
    """A fresh signing secret in the ``whsec_`` form."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def _signature(secret: str, event_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def sign(secret: str, event_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three headers of a signed delivery of ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + _signature(secret, event_id, ts, body),
    }


def verify(
    secret: str, body: bytes, headers: Mapping[str, str], *, tolerance_s: int = TOLERANCE_S
) -> str:
    """Check a delivery's signature and timestamp; returns its ``webhook-id``, or raises
    :class:`WebhookRejectedError` saying what is wrong."""
    lower = {k.lower(): v for k, v in headers.items()}
    event_id = lower.get("webhook-id")
    ts = lower.get("webhook-timestamp")
    given = lower.get("webhook-signature")
    if not event_id or not ts or not given:
        raise WebhookRejectedError(
            "unsigned delivery: webhook-id, -timestamp or -signature missing"
        )
    try:
        sent = int(ts)
    except ValueError:
        raise WebhookRejectedError(f"bad webhook-timestamp {ts!r}") from None
    if abs(time.time() - sent) > tolerance_s:
        raise WebhookRejectedError(f"webhook-timestamp {sent} is more than {tolerance_s}s from now")
    expected = _signature(secret, event_id, ts, body)
    for candidate in given.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return event_id
    raise WebhookRejectedError("the signature does not match the body under the secret")
