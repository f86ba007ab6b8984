"""Fault injection for emulators: an ASGI middleware that makes chosen requests fail.

A test (or a user, through the emulator's control route) adds :class:`FaultRule` objects; each
matches requests by ``"METHOD /path"`` glob (e.g. ``"GET /v1/batches/*"``) and fires ``times``
times:

* ``rate_limit`` - 429 with ``retry-after`` / ``retry-after-ms`` headers
* ``server_error`` - 500; ``overloaded`` - 529 (Anthropic's) ; ``unavailable`` - 503
* ``unauthorized`` - 401
* ``drop`` - the connection closes before a complete response (the client sees a protocol error)
* ``truncate`` - the real response starts, but only the first half of its body is sent (the request
  was served: a create call that is truncated did create the job)

A *chaos* rule (:meth:`FaultInjector.chaos`) instead fires at random on a share of every matching
request, with a kind drawn from a list, for as long as it is installed: ``batch-router emulate
PROVIDER --chaos 0.2`` serves the API with a fifth of all calls failing.

The error body is the provider's own error shape, produced by the ``error_body`` callable the
emulator passes in.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs
import orjson

__all__ = ["CHAOS_KINDS", "FaultInjector", "FaultMiddleware", "FaultRule"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_STATUS = {
    "rate_limit": 429,
    "server_error": 500,
    "unavailable": 503,
    "overloaded": 529,
    "unauthorized": 401,
}
KINDS = (*_STATUS, "drop", "truncate")


@attrs.define(kw_only=True)
class FaultRule:
    """Fail ``times`` requests matching ``route`` (a ``"METHOD /path"`` glob) with ``kind``."""

    route: str
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    times: int = 1
    retry_after: float | None = None
    fired: int = 0
    #: with a rate, the rule fires on that share of matching requests (at random) instead of the
    #: next ``times`` ones, drawing its kind from ``kinds``
    rate: float | None = None
    kinds: tuple[str, ...] = ()

    def matches(self, method: str, path: str) -> bool:
        """True when this rule applies to the request and has firings left."""
        return self.fired < self.times and fnmatch.fnmatchcase(f"{method} {path}", self.route)


#: The kinds a chaos rule draws from by default: every transient failure a client must survive.
CHAOS_KINDS = ("rate_limit", "server_error", "unavailable", "drop", "truncate")


class FaultInjector:
    """The emulator's active fault rules (thread-safe: tests add rules from another thread)."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._random = random.Random()
        #: faults injected so far, by kind
        self.injected: dict[str, int] = {}

    def chaos(
        self,
        rate: float,
        *,
        route: str = "*",
        kinds: tuple[str, ...] = CHAOS_KINDS,
        seed: int | None = None,
        retry_after: float = 0.2,
    ) -> FaultRule:
        """Fail a share ``rate`` of the requests matching ``route`` with a random one of
        ``kinds``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a chaos rate is a share between 0 and 1, not {rate}")
        for kind in kinds:
            if kind not in KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(KINDS)}")
        if seed is not None:
            self._random.seed(seed)
        rule = FaultRule(
            route=route,
            kind=kinds[0],
            times=1 << 62,
            rate=rate,
            kinds=tuple(kinds),
            retry_after=retry_after,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def add(
        self, route: str, kind: str, *, times: int = 1, retry_after: float | None = None
    ) -> FaultRule:
        """Add a rule; returns it (its ``fired`` count shows how often it fired)."""
        rule = FaultRule(route=route, kind=kind, times=times, retry_after=retry_after)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first rule matching this request, consuming one of its firings."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.rate is not None:
                    if self._random.random() >= rule.rate:
                        continue
                    rule = attrs.evolve(rule, kind=self._random.choice(rule.kinds))
                rule.fired += 1
                self.injected[rule.kind] = self.injected.get(rule.kind, 0) + 1
                return rule
        return None


class FaultMiddleware:
    """ASGI middleware applying a :class:`FaultInjector` to every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        injector: FaultInjector,
        error_body: Callable[[str, int], dict[str, Any]],
        *,
        exempt_prefix: str = "/_emulator",
    ) -> None:
        self.app = app
        self.injector = injector
        self.error_body = error_body
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefix):
            await self.app(scope, receive, send)
            return
        rule = self.injector.take(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "drop":
            # Promise a body, send none, and abort: the server closes the connection mid-response.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            raise ConnectionAbortedError("fault injection: connection dropped")
        if rule.kind == "truncate":
            await self.app(scope, receive, _Truncating(send))
            raise ConnectionAbortedError("fault injection: response truncated")
        status = _STATUS[rule.kind]
        body = orjson.dumps(self.error_body(rule.kind, status))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if rule.retry_after is not None:
            headers.append((b"retry-after", str(max(0, round(rule.retry_after))).encode()))
            headers.append((b"retry-after-ms", str(int(rule.retry_after * 1000)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Truncating:
    """Passes the response start through, then only the first half of the body."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._length: int | None = None
        self._sent = 0
        self._done = False

    async def __call__(self, message: Message) -> None:
        if self._done:
            return
        if message["type"] == "http.response.start":
            for key, value in message.get("headers", []):
                if key.lower() == b"content-length":
                    self._length = int(value)
            await self._send(message)
            return
        body: bytes = message.get("body", b"")
        budget = (self._length or len(body)) // 2 - self._sent
        if budget <= 0:
            self._done = True
            return
        chunk = body[:budget]
        self._sent += len(chunk)
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        if len(chunk) < len(body):
            self._done = True
