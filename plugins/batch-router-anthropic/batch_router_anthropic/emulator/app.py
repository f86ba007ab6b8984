"""The Anthropic Message Batches emulator: the six ``/v1/messages/batches`` routes, as a Starlette
app.

Base URL for the SDK: ``http://HOST:PORT`` (no ``/v1``: the SDK's paths carry it). Both
``x-api-key`` and ``Authorization: Bearer`` are accepted, with any ``anthropic-version``. Counts
stay zero except ``processing`` until a batch ends; ``results_url`` is absolute and null until then;
per-request problems come back as errored results, not create errors. Control routes live under
``/_emulator``.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from batch_router_core.emulation.answers import (
    prompt_tokens,
    reply_to,
    schema_reply,
    tool_to_call,
)
from batch_router_core.emulation.base import EmulatorApp, next_job_pace, state_options
from batch_router_core.emulation.clock import Clock, ManualClock

__all__ = ["AnthropicEmulator", "EmulatorState", "create_app"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


#: The shortest prefix the emulator caches (Anthropic's minimum for most models; shorter prompts
#: with a breakpoint are simply not cached).
MIN_CACHED_TOKENS = 1024


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": f"req_{secrets.token_hex(8)}",
    }


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json(_error_body(status, message), status)


def _rfc3339(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


@attrs.define(kw_only=True)
class Batch:
    """One Message Batch and its lifecycle (emulated seconds)."""

    id: str
    created_at: float
    requests: list[dict[str, Any]] = attrs.field(repr=False)
    per_request_s: float
    cancel_initiated_at: float | None = None
    ended_at: float | None = None
    results: list[bytes] | None = attrs.field(default=None, repr=False)
    counts: dict[str, int] = attrs.field(factory=dict)


class EmulatorState:
    """Batches, the clock and the knobs tests turn (see the OpenAI emulator for the same ideas)."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        per_request_s: float = 0.5,
        cancel_s: float = 30.0,
        window_s: float = 86400.0,
        max_requests: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
        api_key: str | None = None,
    ) -> None:
        self.clock = clock or ManualClock()
        self.per_request_s = per_request_s
        self.cancel_s = cancel_s
        self.window_s = window_s
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.api_key = api_key
        self.batches: dict[str, Batch] = {}
        self.error_ids: set[str] = set()
        self.next_per_request_s: float | None = None
        self.lock = threading.RLock()
        #: calls served by the synchronous Messages endpoint (the online path)
        self.sync_calls = 0
        #: cached prompt prefixes (a digest of model and prefix) -> when they expire
        self.prompt_cache: dict[str, float] = {}

    def create(self, requests: list[dict[str, Any]]) -> Batch:
        """Store a new batch (processing starts at once)."""
        with self.lock:
            per = next_job_pace(self)
            batch = Batch(
                id=f"msgbatch_{secrets.token_hex(12)}",
                created_at=self.clock.now(),
                requests=requests,
                per_request_s=per,
            )
            self.batches[batch.id] = batch
            return batch

    def advance(self, batch: Batch) -> None:
        """Bring a batch up to the clock."""
        with self.lock:
            if batch.ended_at is not None:
                return
            now = self.clock.now()
            run_end = batch.created_at + len(batch.requests) * batch.per_request_s
            deadline = batch.created_at + self.window_s
            if batch.cancel_initiated_at is not None:
                end = batch.cancel_initiated_at + self.cancel_s
                if now >= min(end, run_end):
                    self._finish(
                        batch, min(end, run_end), cut_at=batch.cancel_initiated_at, rest="canceled"
                    )
            elif run_end > deadline and now >= deadline:
                self._finish(batch, deadline, cut_at=deadline, rest="expired")
            elif now >= run_end:
                self._finish(batch, run_end, cut_at=None, rest="")

    def _finish(self, batch: Batch, at: float, *, cut_at: float | None, rest: str) -> None:
        done = len(batch.requests)
        if cut_at is not None and batch.per_request_s:
            done = min(done, max(0, int((cut_at - batch.created_at) / batch.per_request_s)))
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        lines = []
        for i, req in enumerate(batch.requests):
            if i >= done:
                result: dict[str, Any] = {"type": rest}
            else:
                result = self._answer(req)
            counts[result["type"]] += 1
            lines.append(orjson.dumps({"custom_id": req["custom_id"], "result": result}))
        # The real service returns results in no particular order: so does the emulator.
        lines.reverse()
        batch.results = lines
        batch.counts = counts
        batch.ended_at = at

    def _answer(self, req: dict[str, Any]) -> dict[str, Any]:
        params = req.get("params") or {}
        problem = None
        model = params.get("model")
        messages = params.get("messages")
        if req["custom_id"] in self.error_ids:
            problem = (
                "invalid_request_error",
                "This request was rejected (emulated per-request error).",
            )
        elif not isinstance(model, str) or not model:
            problem = ("invalid_request_error", "model: Field required")
        elif "nonexistent" in model:
            problem = ("not_found_error", f"model: {model}")
        elif not isinstance(params.get("max_tokens"), int):
            problem = ("invalid_request_error", "max_tokens: Field required")
        elif not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
            problem = ("invalid_request_error", 'messages: first message must use the "user" role')
        elif any(
            a.get("role") == b.get("role") for a, b in zip(messages, messages[1:], strict=False)
        ):
            problem = (
                "invalid_request_error",
                'messages: roles must alternate between "user" and "assistant"',
            )
        if problem is not None:
            return {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": problem[0], "message": problem[1]},
                    "request_id": None,
                },
            }

        assert isinstance(messages, list)  # checked above: a non-empty list of messages

        def text_of(content: Any) -> str:
            if isinstance(content, str):
                return content
            return " ".join(
                b.get("text") or (b["content"] if isinstance(b.get("content"), str) else "")
                for b in content
                if isinstance(b, dict)
            )

        system = params.get("system")

        def count(text: str) -> int:
            return prompt_tokens(text, "anthropic", str(model))

        total = sum(count(text_of(m.get("content"))) + 3 for m in messages)
        if system:
            total += count(text_of(system))
        cache_read, cache_write = self._cached(str(model), system, messages, text_of, count)
        fmt = (params.get("output_config") or {}).get("format")
        last = messages[-1].get("content")
        answered = isinstance(last, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in last
        )
        choice = params.get("tool_choice") or {}
        call = (
            None
            if answered  # a tool's result came back: reply in text
            else tool_to_call(
                [(t["name"], t.get("input_schema")) for t in params.get("tools") or []],
                choice.get("name")
                if choice.get("type") == "tool"
                else {"any": "required", "none": "none"}.get(choice.get("type", ""), "auto"),
                text_of(last),
            )
        )
        content: list[dict[str, Any]]
        if call is not None:
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_emu{secrets.token_hex(8)}",
                    "name": call[0],
                    "input": call[1],
                }
            ]
            return self._message(model, content, "tool_use", total, 16, cache_read, cache_write)
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            text, out_tokens = schema_reply(fmt.get("schema"), text_of(messages[-1].get("content")))
            truncated = False
        else:
            text, truncated, out_tokens = reply_to(
                text_of(messages[-1].get("content")), params["max_tokens"]
            )
        content = [{"type": "text", "text": text}]
        stop = "max_tokens" if truncated else "end_turn"
        return self._message(model, content, stop, total, out_tokens, cache_read, cache_write)

    def _cached(
        self, model: str, system: Any, messages: list[Any], text_of: Any, count: Any
    ) -> tuple[int, int]:
        """``(read, written)`` prompt-cache tokens of a request, as Anthropic counts them.

        The prefix ends at the last block with ``cache_control`` (system blocks, then messages'
        blocks); one of at least ``MIN_CACHED_TOKENS`` is written the first time and read while it
        lives (5 minutes or ``ttl`` "1h" of emulator time, renewed by each read); a shorter one is
        not cached, as on the real service.
        """
        blocks: list[tuple[int, Any]] = []  # (message index or -1 for system, block)
        if isinstance(system, list):
            blocks.extend((-1, b) for b in system if isinstance(b, dict))
        for mi, m in enumerate(messages):
            content = m.get("content")
            if isinstance(content, list):
                blocks.extend((mi, b) for b in content if isinstance(b, dict))
        marked = [i for i, (_, b) in enumerate(blocks) if b.get("cache_control")]
        if not marked:
            return 0, 0
        prefix = blocks[: marked[-1] + 1]
        last_message = prefix[-1][0]
        before = messages[:last_message] if last_message >= 0 else []
        tokens = count(text_of(system)) if system else 0
        tokens += sum(count(text_of(m.get("content"))) + 3 for m in before)
        if last_message >= 0:
            tail = [b for mi, b in prefix if mi == last_message]
            tokens += count(text_of(tail)) + 3
        if tokens < MIN_CACHED_TOKENS:
            return 0, 0
        ttl = prefix[-1][1]["cache_control"].get("ttl") == "1h"
        key = hashlib.sha256(orjson.dumps([model, system, before, prefix])).hexdigest()
        now = self.clock.now()
        lifetime = 3600.0 if ttl else 300.0
        with self.lock:
            alive = self.prompt_cache.get(key, 0.0) > now
            self.prompt_cache[key] = now + lifetime
        return (tokens, 0) if alive else (0, tokens)

    @staticmethod
    def _message(
        model: Any,
        content: list[dict[str, Any]],
        stop: str,
        prompt_tokens: int,
        out_tokens: int,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> dict[str, Any]:
        # Anthropic's input_tokens are the prompt's tokens after the last cache breakpoint.
        return {
            "type": "succeeded",
            "message": {
                "id": f"msg_{secrets.token_hex(12)}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": max(0, prompt_tokens - cache_read - cache_write),
                    "cache_creation_input_tokens": cache_write,
                    "cache_read_input_tokens": cache_read,
                    "output_tokens": out_tokens,
                    "service_tier": "batch",
                },
            },
        }

    def to_json(self, batch: Batch, base_url: str) -> dict[str, Any]:
        """The MessageBatch JSON."""
        self.advance(batch)
        ended = batch.ended_at is not None
        status = (
            "ended"
            if ended
            else ("canceling" if batch.cancel_initiated_at is not None else "in_progress")
        )
        counts = (
            batch.counts
            if ended
            else {
                "processing": len(batch.requests),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            }
        )
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": _rfc3339(batch.created_at),
            "expires_at": _rfc3339(batch.created_at + self.window_s),
            "ended_at": _rfc3339(batch.ended_at),
            "cancel_initiated_at": _rfc3339(batch.cancel_initiated_at),
            "archived_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }


class AnthropicEmulator(EmulatorApp):
    """The emulator: state, fault injector and the ASGI app."""

    fault_routes = {
        "submit": "POST /v1/messages/batches",
        "poll_status": "GET /v1/messages/batches/*",
        "cancel": "POST /v1/messages/batches/*/cancel",
        "fetch_results": "GET /v1/messages/batches/*/results",
    }
    transient_kind = "overloaded"
    state: EmulatorState

    def __init__(self, state: EmulatorState | None = None) -> None:
        super().__init__(state or EmulatorState())

    def routes(self) -> list[BaseRoute]:
        """The Message Batches API and the synchronous Messages call."""
        base = "/v1/messages/batches"
        return [
            Route(base, self.create, methods=["POST"]),
            Route(base, self.list, methods=["GET"]),
            Route(base + "/{batch_id}", self.retrieve, methods=["GET"]),
            Route(base + "/{batch_id}", self.delete, methods=["DELETE"]),
            Route(base + "/{batch_id}/cancel", self.cancel, methods=["POST"]),
            Route(base + "/{batch_id}/results", self.results, methods=["GET"]),
            Route("/v1/messages", self.messages, methods=["POST"]),
        ]

    def request_key(self, scope: Mapping[str, Any], headers: Mapping[bytes, bytes]) -> str | None:
        """``x-api-key``, or a bearer token."""
        return headers.get(b"x-api-key", b"").decode() or super().request_key(scope, headers)

    def unauthorized(self, key: str) -> Response:
        """Anthropic's 401."""
        return _error(401, "invalid x-api-key")

    def fault_body(self, kind: str, status: int) -> dict[str, Any]:
        """Anthropic's error shape."""
        return _error_body(status, f"emulated {kind}")

    def count_key(self, method: str, path: str) -> str | None:
        """By method and depth (create/list, one batch, one batch's action)."""
        return f"{method} {path.count('/')}" if path.startswith("/v1/") else None

    def stats(self) -> dict[str, Any]:
        """The batches created besides the common counters."""
        return {"batches": len(self.state.batches), **super().stats()}

    @staticmethod
    def _base(request: Request) -> str:
        return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"

    def _get(self, request: Request) -> Batch | None:
        return self.state.batches.get(request.path_params["batch_id"])

    async def create(self, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > self.state.max_bytes:
            return _error(413, f"Request exceeds the maximum size of {self.state.max_bytes} bytes")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _error(400, "Invalid JSON body")
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return _error(400, "requests: must be a non-empty list")
        if len(requests) > self.state.max_requests:
            return _error(413, f"requests: at most {self.state.max_requests} requests per batch")
        seen: set[str] = set()
        for i, req in enumerate(requests):
            cid = req.get("custom_id") if isinstance(req, dict) else None
            if (
                not isinstance(cid, str)
                or not cid
                or len(cid) > 64
                or not all(c.isalnum() or c in "_-" for c in cid)
            ):
                return _error(400, f"requests.{i}.custom_id: must match ^[a-zA-Z0-9_-]{{1,64}}$")
            if cid in seen:
                return _error(400, f"requests.{i}.custom_id: duplicate custom_id {cid!r}")
            seen.add(cid)
            if not isinstance(req.get("params"), dict):
                return _error(400, f"requests.{i}.params: Field required")
        batch = self.state.create(requests)
        return _json(self.state.to_json(batch, self._base(request)))

    async def list(self, request: Request) -> Response:
        limit = int(request.query_params.get("limit", "20"))
        if not 1 <= limit <= 1000:
            return _error(400, "limit: must be between 1 and 1000")
        after = request.query_params.get("after_id")
        with self.state.lock:
            ordered = sorted(
                self.state.batches.values(), key=lambda b: (b.created_at, b.id), reverse=True
            )
            if after is not None:
                ids = [b.id for b in ordered]
                ordered = ordered[ids.index(after) + 1 :] if after in ids else []
            page = ordered[:limit]
            data = [self.state.to_json(b, self._base(request)) for b in page]
        return _json(
            {
                "data": data,
                "has_more": len(ordered) > limit,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def retrieve(self, request: Request) -> Response:
        batch = self._get(request)
        if batch is None:
            return _error(404, f"message batch {request.path_params['batch_id']} not found")
        return _json(self.state.to_json(batch, self._base(request)))

    async def cancel(self, request: Request) -> Response:
        batch = self._get(request)
        if batch is None:
            return _error(404, f"message batch {request.path_params['batch_id']} not found")
        self.state.advance(batch)
        if batch.ended_at is None and batch.cancel_initiated_at is None:
            batch.cancel_initiated_at = self.state.clock.now()
        return _json(self.state.to_json(batch, self._base(request)))

    async def delete(self, request: Request) -> Response:
        batch = self._get(request)
        if batch is None:
            return _error(404, f"message batch {request.path_params['batch_id']} not found")
        self.state.advance(batch)
        if batch.ended_at is None:
            return _error(
                400, "Message batches can only be deleted once they have finished processing"
            )
        del self.state.batches[batch.id]
        return _json({"id": batch.id, "type": "message_batch_deleted"})

    async def results(self, request: Request) -> Response:
        batch = self._get(request)
        if batch is None:
            return _error(404, f"message batch {request.path_params['batch_id']} not found")
        self.state.advance(batch)
        if batch.results is None:
            return _error(400, "results are not available until the batch has ended")
        return Response(b"\n".join(batch.results) + b"\n", media_type="application/binary")

    async def messages(self, request: Request) -> Response:
        """The synchronous Messages endpoint (the online path): the same deterministic answers."""
        try:
            params = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "Invalid JSON body")
        self.state.sync_calls += 1
        result = self.state._answer({"custom_id": "sync", "params": params})
        if result["type"] == "errored":
            inner = result["error"]["error"]
            return _error(404 if inner["type"] == "not_found_error" else 400, inner["message"])
        return _json(result["message"])


def create_app(options: dict[str, Any] | None = None) -> AnthropicEmulator:
    """Build the emulator. Options: ``speed`` (wall clock x speed; default: a manual clock),
    ``api_key``, and any :class:`EmulatorState` timing or limit argument."""
    known = ("per_request_s", "cancel_s", "window_s", "max_requests", "max_bytes", "api_key")
    return AnthropicEmulator(EmulatorState(**state_options(options, known)))
