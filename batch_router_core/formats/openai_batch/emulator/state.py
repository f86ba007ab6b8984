"""The emulated service's state: files and batches, moved through their lifecycle by a clock.

State advances lazily: every read brings a batch up to the clock's "now", so a test that advances a
:class:`ManualClock` by a day sees a day's worth of progress on its next request.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import weakref
from collections.abc import Collection
from pathlib import Path
from typing import Any

import attrs
import orjson

from batch_router_core.emulation.base import next_job_pace
from batch_router_core.emulation.clock import Clock, ManualClock
from batch_router_core.emulation.webhooks import Ticker, WebhookSender, start_pushing

from .answers import BodyError, answer

__all__ = ["BatchRecord", "EmulatorState", "FileRecord"]

ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
)
#: OpenAI's batch endpoints, each answered as itself
OPENAI_ENDPOINTS = {e: e for e in ENDPOINTS}
TERMINAL = ("completed", "failed", "expired", "cancelled")


@attrs.define(kw_only=True)
class FileRecord:
    """An uploaded or generated file."""

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    path: Path
    expires_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The FileObject JSON."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": self.expires_at,
        }


@attrs.define(kw_only=True)
class BatchRecord:
    """A batch and its lifecycle times (emulated seconds)."""

    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    created_at: float
    status: str = "validating"
    #: emulated seconds one request takes; the whole batch runs for count * this
    per_request_s: float = 0.5
    errors: list[dict[str, Any]] | None = None
    total: int = 0
    lines: list[tuple[int, str, str, dict[str, Any]]] = attrs.field(factory=list, repr=False)
    model: str | None = None
    #: the input tokens the batch holds in its model's queue while it runs (an estimate)
    tokens: int = 0
    in_progress_at: float | None = None
    finalizing_at: float | None = None
    completed_at: float | None = None
    failed_at: float | None = None
    expired_at: float | None = None
    cancelling_at: float | None = None
    cancelled_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    done_count: int = 0
    failed_count: int = 0
    usage: dict[str, Any] | None = None
    #: emulated seconds from creation to expiry (the completion window)
    window_s: float = 86400.0

    def to_json(self) -> dict[str, Any]:
        """The Batch object JSON."""

        def ts(v: float | None) -> int | None:
            return int(v) if v is not None else None

        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": ts(self.created_at),
            "in_progress_at": ts(self.in_progress_at),
            "expires_at": ts(self.created_at + self.window_s),
            "finalizing_at": ts(self.finalizing_at),
            "completed_at": ts(self.completed_at),
            "failed_at": ts(self.failed_at),
            "expired_at": ts(self.expired_at),
            "cancelling_at": ts(self.cancelling_at),
            "cancelled_at": ts(self.cancelled_at),
            "request_counts": {
                "total": self.total,
                "completed": self.done_count,
                "failed": self.failed_count,
            },
            "metadata": self.metadata,
            "usage": self.usage,
        }


class EmulatorState:
    """Files, batches, the clock and the knobs tests turn.

    :param clock: the emulated clock (a :class:`ManualClock` by default: time moves only when told).
    :param validate_s, finalize_s, cancel_s: emulated durations of those phases.
    :param per_request_s: emulated processing time per request.
    :param window_s: the completion window (24 h).
    :param max_requests, max_file_bytes, max_upload_bytes: the service's limits.
    :param api_key: when set, requests must carry exactly this key.
    :param endpoints: the batch endpoints the service takes, each mapped to the OpenAI endpoint
        whose answers it gets (an OpenAI-compatible service names them its own way).
    :param known_models: when set, a batch naming another model fails validation
        (``model_not_found``), as a service with deployments does.
    :param body_lines: input lines are ``{"custom_id", "body"}`` (the job names the endpoint and
        perhaps the model), not OpenAI's ``{"custom_id", "method", "url", "body"}``.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        workdir: Path | str | None = None,
        validate_s: float = 5.0,
        finalize_s: float = 5.0,
        cancel_s: float = 30.0,
        per_request_s: float = 0.5,
        window_s: float = 86400.0,
        max_requests: int = 50_000,
        max_file_bytes: int = 200 * 1024 * 1024,
        max_upload_bytes: int = 512 * 1024 * 1024,
        api_key: str | None = None,
        max_enqueued_tokens: int | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        endpoints: dict[str, str] | None = None,
        known_models: Collection[str] | None = None,
        body_lines: bool = False,
    ) -> None:
        self.body_lines = body_lines
        self.clock = clock or ManualClock()
        self.endpoints = dict(OPENAI_ENDPOINTS if endpoints is None else endpoints)
        self.known_models = None if known_models is None else frozenset(known_models)
        self._own_dir = workdir is None
        self.workdir = (
            Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="openai-emu-"))
        )
        if self._own_dir:
            # Removed on close(), else when the state is collected or the interpreter exits: a
            # test run or a long-lived machine must not collect emulator directories.
            self._cleanup = weakref.finalize(self, shutil.rmtree, self.workdir, ignore_errors=True)
        self.validate_s = validate_s
        self.finalize_s = finalize_s
        self.cancel_s = cancel_s
        self.per_request_s = per_request_s
        self.window_s = window_s
        self.max_requests = max_requests
        self.max_file_bytes = max_file_bytes
        self.max_upload_bytes = max_upload_bytes
        self.api_key = api_key
        #: the organisation's enqueued-token limit per model (None: unlimited): a batch that would
        #: queue more fails validation with ``token_limit_exceeded``, as the service's does
        self.max_enqueued_tokens = max_enqueued_tokens
        self.files: dict[str, FileRecord] = {}
        self.batches: dict[str, BatchRecord] = {}
        #: custom_ids that the service answers with a 400 (per-request errors)
        self.error_ids: set[str] = set()
        #: per-request processing time for the next batch created (e.g. huge, to force expiry)
        self.next_per_request_s: float | None = None
        self.lock = threading.RLock()
        self._counter = 0
        #: calls served by the synchronous endpoints (the online path)
        self.sync_calls = 0
        #: synchronous requests whose body contains this text are rejected with a 400
        self.reject_marker: str | None = None
        #: where batch events are pushed (``batch.completed``...), signed with ``webhook_secret``;
        #: batches then end by themselves, not only when someone asks about them
        self.webhooks: WebhookSender | None = None
        self._ticker: Ticker | None = None
        if webhook_url:
            self.webhooks, self._ticker = start_pushing(
                webhook_url, webhook_secret, self._advance_all
            )

    def close(self) -> None:
        """Stop pushing events; remove the emulator's files (when it created its own directory)."""
        if self._ticker is not None:
            self._ticker.close()
        if self.webhooks is not None:
            self.webhooks.close()
        if self._own_dir:
            self._cleanup()

    # -- files ---------------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{secrets.token_hex(12)}"

    def add_file(
        self, filename: str, purpose: str, data: bytes, expires_after: int | None = None
    ) -> FileRecord:
        """Store an uploaded or generated file."""
        with self.lock:
            fid = self._new_id("file-")
            path = self.workdir / fid
            path.write_bytes(data)
            now = int(self.clock.now())
            rec = FileRecord(
                id=fid,
                filename=filename,
                purpose=purpose,
                bytes=len(data),
                created_at=now,
                path=path,
                expires_at=now + expires_after if expires_after else None,
            )
            self.files[fid] = rec
            return rec

    # -- batches -------------------------------------------------------------------------------

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        metadata: dict[str, str] | None,
        window_s: float | None = None,
        model: str | None = None,
    ) -> BatchRecord:
        """Create a batch in ``validating`` (expiring after ``window_s``, by default the state's
        window)."""
        with self.lock:
            per = next_job_pace(self)
            rec = BatchRecord(
                id=self._new_id("batch_"),
                endpoint=endpoint,
                input_file_id=input_file_id,
                completion_window=completion_window,
                metadata=metadata,
                created_at=self.clock.now(),
                per_request_s=per,
                window_s=self.window_s if window_s is None else window_s,
                model=model,
            )
            self.batches[rec.id] = rec
            return rec

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        """A batch brought up to now, or None."""
        with self.lock:
            rec = self.batches.get(batch_id)
            if rec is not None:
                self._advance(rec)
            return rec

    def cancel_batch(self, rec: BatchRecord) -> None:
        """Start cancelling (the caller checked the batch is not terminal)."""
        with self.lock:
            self._advance(rec)
            if rec.status in ("validating", "in_progress", "finalizing"):
                now = self.clock.now()
                rec.cancelling_at = now
                rec.status = "cancelling"
            self._advance(rec)

    # -- lifecycle -----------------------------------------------------------------------------

    def _advance_all(self) -> None:
        with self.lock:
            for rec in list(self.batches.values()):
                self._advance(rec)

    def _advance(self, rec: BatchRecord) -> None:
        before = rec.status
        self._advance_now(rec)
        if self.webhooks is not None and before not in TERMINAL and rec.status in TERMINAL:
            self.webhooks.send(f"batch.{rec.status}", {"id": rec.id})

    def _advance_now(self, rec: BatchRecord) -> None:
        now = self.clock.now()
        if rec.status in TERMINAL:
            return
        if rec.status == "cancelling":
            assert rec.cancelling_at is not None
            if now >= rec.cancelling_at + self.cancel_s:
                self._finish(rec, "cancelled", rec.cancelling_at + self.cancel_s)
            return
        deadline = rec.created_at + rec.window_s
        if rec.status == "validating":
            start = rec.created_at + self.validate_s
            if now < start and now < deadline:
                return
            self._validate(rec)
            if rec.status == "failed":
                return
            rec.status = "in_progress"
            rec.in_progress_at = start
        if rec.status == "in_progress":
            assert rec.in_progress_at is not None
            run_end = rec.in_progress_at + rec.total * rec.per_request_s
            if run_end > deadline and now >= deadline:
                self._finish(rec, "expired", deadline)
                return
            if now < run_end:
                done = (
                    int((now - rec.in_progress_at) / rec.per_request_s)
                    if rec.per_request_s
                    else rec.total
                )
                rec.done_count = min(rec.total, done)
                return
            rec.status = "finalizing"
            rec.finalizing_at = run_end
            rec.done_count = rec.total
        if rec.status == "finalizing":
            assert rec.finalizing_at is not None
            if now >= rec.finalizing_at + self.finalize_s:
                self._finish(rec, "completed", rec.finalizing_at + self.finalize_s)

    def _validate(self, rec: BatchRecord) -> None:
        """Check the input file the way the service does; failures fail the whole batch."""
        f = self.files.get(rec.input_file_id)
        errors: list[dict[str, Any]] = []
        if f is None:
            errors.append(
                {
                    "code": "file_not_found",
                    "line": None,
                    "param": "input_file_id",
                    "message": f"No such file: {rec.input_file_id}",
                }
            )
        elif f.bytes > self.max_file_bytes:
            errors.append(
                {
                    "code": "file_too_large",
                    "line": None,
                    "param": None,
                    "message": f"The input file exceeds the maximum size of {self.max_file_bytes} "
                    f"bytes.",
                }
            )
        else:
            seen: set[str] = set()
            models: set[str] = set()
            job_model = rec.model
            for number, raw in enumerate(f.path.read_bytes().splitlines(), 1):
                if not raw.strip():
                    continue
                try:
                    line = orjson.loads(raw)
                    cid, body = line["custom_id"], line["body"]
                    if self.body_lines:  # the job says where the lines go, and may name the model
                        url = rec.endpoint
                        if job_model is not None and isinstance(body, dict):
                            body.setdefault("model", job_model)
                    else:
                        url = line["url"]
                    if (
                        not isinstance(cid, str)
                        or not isinstance(body, dict)
                        or (not self.body_lines and line.get("method") != "POST")
                    ):
                        raise ValueError
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    errors.append(
                        {
                            "code": "invalid_json_line",
                            "line": number,
                            "param": None,
                            "message": "This line is not parseable as valid JSON or is missing "
                            "custom_id, method, url or body.",
                        }
                    )
                    continue
                if url != rec.endpoint:
                    errors.append(
                        {
                            "code": "mismatched_endpoint",
                            "line": number,
                            "param": "url",
                            "message": f"The url {url!r} does not match the batch endpoint "
                            f"{rec.endpoint!r}.",
                        }
                    )
                if cid in seen:
                    errors.append(
                        {
                            "code": "duplicate_custom_id",
                            "line": number,
                            "param": "custom_id",
                            "message": f"The custom_id {cid!r} is used more than once.",
                        }
                    )
                seen.add(cid)
                if isinstance(body.get("model"), str):
                    if self.known_models is not None and body["model"] not in self.known_models:
                        errors.append(
                            {
                                "code": "model_not_found",
                                "line": number,
                                "param": "body.model",
                                "message": f"The model {body['model']!r} does not exist or is not "
                                "a batch deployment.",
                            }
                        )
                    models.add(body["model"])
                    if len(models) > 1:
                        errors.append(
                            {
                                "code": "model_mismatch",
                                "line": number,
                                "param": "body.model",
                                "message": "All requests in a batch must use the same model.",
                            }
                        )
                        models = {body["model"]}
                rec.lines.append((number, cid, url, body))
            if not rec.lines and not errors:
                errors.append(
                    {
                        "code": "empty_file",
                        "line": None,
                        "param": None,
                        "message": "The input file is empty.",
                    }
                )
            if len(rec.lines) > self.max_requests:
                errors.append(
                    {
                        "code": "too_many_tasks",
                        "line": None,
                        "param": None,
                        "message": f"The batch has {len(rec.lines)} requests; the maximum is "
                        f"{self.max_requests}.",
                    }
                )
            rec.model = next(iter(models), None)
        rec.total = len(rec.lines)
        if not errors and self.max_enqueued_tokens is not None:
            errors.extend(self._queue_errors(rec))
        if errors:
            rec.errors = errors[:1000]
            rec.status = "failed"
            rec.failed_at = rec.created_at + self.validate_s
            rec.total = 0
            rec.lines = []

    def _queue_errors(self, rec: BatchRecord) -> list[dict[str, Any]]:
        """``token_limit_exceeded`` when the batch's tokens do not fit in its model's queue beside
        the batches already running (a token per four characters of message text)."""
        rec.tokens = sum(_line_tokens(body) for _, _, _, body in rec.lines)
        for other in self.batches.values():
            # Only running batches hold the queue; bringing them up to now may free it (batches
            # still validating are left alone: validating them would come back here).
            if other is not rec and other.status in ("in_progress", "finalizing"):
                self._advance(other)
        queued = sum(
            o.tokens
            for o in self.batches.values()
            if o is not rec and o.model == rec.model and o.status in ("in_progress", "finalizing")
        )
        limit = self.max_enqueued_tokens
        assert limit is not None
        if queued + rec.tokens <= limit:
            return []
        return [
            {
                "code": "token_limit_exceeded",
                "line": None,
                "param": None,
                "message": f"Enqueued token limit reached for {rec.model} in organization "
                f"org-emulator. Limit: {limit} enqueued tokens. Please try submitting your "
                "requests again later.",
            }
        ]

    def _finish(self, rec: BatchRecord, status: str, at: float) -> None:
        """Write the output and error files and end the batch."""
        ran_until = {
            "completed": None,
            "expired": rec.created_at + rec.window_s,
            "cancelled": rec.cancelling_at,
        }[status]
        processed = rec.total
        if ran_until is not None:
            started = rec.in_progress_at
            if started is None or ran_until <= started:
                processed = 0
            elif rec.per_request_s:
                processed = min(rec.total, int((ran_until - started) / rec.per_request_s))
        out_lines: list[bytes] = []
        err_lines: list[bytes] = []
        usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        for i, (_, cid, url, body) in enumerate(rec.lines):
            self._counter += 1
            req_id = f"batch_req_{secrets.token_hex(8)}"
            if i >= processed:
                if status == "expired":
                    err_lines.append(
                        orjson.dumps(
                            {
                                "id": req_id,
                                "custom_id": cid,
                                "response": None,
                                "error": {
                                    "code": "batch_expired",
                                    "message": "This request could not be executed before the "
                                    "completion window expired.",
                                },
                            }
                        )
                    )
                continue  # cancelled before it ran: in neither file, as on the real service
            try:
                if cid in self.error_ids:
                    raise BodyError(
                        400,
                        "This request was rejected (emulated per-request error).",
                        code="emulated_error",
                    )
                body_out = answer(
                    self.endpoints[url], body, request_no=self._counter, created=int(at)
                )
                u = body_out.get("usage", {})
                usage["input_tokens"] += u.get("prompt_tokens", u.get("input_tokens", 0))
                usage["output_tokens"] += u.get("completion_tokens", u.get("output_tokens", 0))
                out_lines.append(
                    orjson.dumps(
                        {
                            "id": req_id,
                            "custom_id": cid,
                            "response": {
                                "status_code": 200,
                                "request_id": f"req_{secrets.token_hex(8)}",
                                "body": body_out,
                            },
                            "error": None,
                        }
                    )
                )
            except BodyError as exc:
                err_lines.append(
                    orjson.dumps(
                        {
                            "id": req_id,
                            "custom_id": cid,
                            "response": {
                                "status_code": exc.status,
                                "request_id": f"req_{secrets.token_hex(8)}",
                                "body": exc.body,
                            },
                            "error": None,
                        }
                    )
                )
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        rec.usage = {
            **usage,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        if out_lines:
            rec.output_file_id = self.add_file(
                f"{rec.id}_output.jsonl", "batch_output", b"\n".join(out_lines) + b"\n"
            ).id
        if err_lines:
            rec.error_file_id = self.add_file(
                f"{rec.id}_error.jsonl", "batch_output", b"\n".join(err_lines) + b"\n"
            ).id
        rec.done_count = len(out_lines)
        rec.failed_count = sum(1 for line in err_lines if b'"batch_expired"' not in line)
        rec.status = status
        setattr(
            rec,
            {"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at"}[
                status
            ],
            at,
        )
        rec.lines = []


def _line_tokens(body: dict[str, Any]) -> int:
    """A request's input tokens as the emulator counts them: a token per four characters of the
    message text, four per message."""
    chars = 0
    messages = body.get("messages") or []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    for key in ("input", "prompt"):
        value = body.get(key)
        if isinstance(value, str):
            chars += len(value)
    return -(-chars // 4) + 4 * len(messages)
