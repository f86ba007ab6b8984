"""Signed webhook deliveries from an emulator, as the provider would push them.

An emulator given a ``webhook_url`` and a ``webhook_secret`` posts an event when a batch ends,
signed with the Standard Webhooks scheme (:mod:`batch_router_core.webhooks.signatures`), from a
background thread, retrying a refused or failed delivery a few times as the providers do (they keep
trying for hours; an emulator gives up after a few seconds). :class:`Ticker` moves an emulator's
clock-driven state on by itself, so that batches end (and are announced) without anyone polling.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from batch_router_core.webhooks.signatures import sign

#: Builds a delivery's body from its event id, type and data.
EventBody = Callable[[str, str, dict[str, Any]], bytes]

__all__ = ["EventBody", "Ticker", "WebhookSender", "event_body", "start_pushing"]


def event_body(event_id: str, event_type: str, data: dict[str, Any]) -> bytes:
    """An event as OpenAI delivers it: ``{"id", "object": "event", "created_at", "type", "data"}``
    (``data`` holds the batch's ``id`` for a ``batch.*`` event)."""
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "created_at": int(time.time()),
            "type": event_type,
            "data": data,
        }
    )


class WebhookSender:
    """Posts signed events to ``url`` from a daemon thread, in the order they were sent.

    ``body`` shapes each delivery as the provider does (default: OpenAI's :func:`event_body`).
    """

    def __init__(
        self, url: str, secret: str, *, attempts: int = 5, body: EventBody = event_body
    ) -> None:
        self.url = url
        self._secret = secret
        self._attempts = attempts
        self._body = body
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        #: (event id, HTTP status or 0 for no answer) of every delivery attempt, for tests
        self.deliveries: list[tuple[str, int]] = []
        self._thread = threading.Thread(target=self._run, name="emulator-webhooks", daemon=True)
        self._thread.start()

    def send(self, event_type: str, data: dict[str, Any]) -> str:
        """Queue an event; returns its id (the ``webhook-id`` of each delivery attempt)."""
        event_id = f"evt_{secrets.token_hex(12)}"
        self._queue.put((event_id, self._body(event_id, event_type, data)))
        return event_id

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event_id, body = item
            for attempt in range(self._attempts):
                # Signed at each attempt, as a provider's retry carries a fresh timestamp.
                headers = {"content-type": "application/json", **sign(self._secret, event_id, body)}
                request = urllib.request.Request(
                    self.url, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        code = int(response.status)
                except urllib.error.HTTPError as exc:
                    code = int(exc.code)
                except OSError:
                    code = 0
                self.deliveries.append((event_id, code))
                if 200 <= code < 300 or 400 <= code < 500:  # accepted, or refused for good
                    break
                time.sleep(0.2 * 2**attempt)

    def close(self) -> None:
        """Stop after the events already queued."""
        self._queue.put(None)
        self._thread.join(timeout=10)


class Ticker:
    """Calls ``step`` every ``interval_s`` seconds from a daemon thread until closed."""

    def __init__(self, step: Callable[[], None], interval_s: float = 0.05) -> None:
        self._step = step
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-ticker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._step()

    def close(self) -> None:
        """Stop ticking."""
        self._stop.set()
        self._thread.join(timeout=5)


def start_pushing(
    url: str, secret: str | None, step: Callable[[], None], *, body: EventBody = event_body
) -> tuple[WebhookSender, Ticker]:
    """What an emulator given a webhook URL runs: a sender of signed events to ``url`` and a
    ticker calling ``step`` (the emulator moving its batches on, so they end, and are announced,
    without anyone polling). ``secret`` is required: an unsigned push is never sent."""
    if not secret:
        raise ValueError("webhook_url needs a webhook_secret to sign the events with")
    return WebhookSender(url, secret, body=body), Ticker(step)
