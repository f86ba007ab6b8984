"""The Gemini batch emulator: the routes the ``google-genai`` SDK calls, under ``/v1`` and
``/v1beta``.

Base URL for the SDK: ``http://HOST:PORT`` (``http_options={"base_url": ...}`` or
``GOOGLE_GEMINI_BASE_URL``). Batches are long-running operations whose state and output live in
``metadata`` (all the SDK reads), mirrored into ``done``/``response``; int64 counts are strings;
every success is a 200. Files use the resumable upload protocol. snake_case and camelCase are both
accepted.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
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
from batch_router_core.emulation.webhooks import Ticker, WebhookSender, start_pushing

__all__ = ["EmulatorState", "GoogleEmulator", "create_app"]

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    529: "UNAVAILABLE",
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


def _error(status: int, message: str) -> Response:
    return _json(_error_body(status, message), status)


def _ts(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: The events the Gemini API pushes when a batch ends, by the state it ended in.
_WEBHOOK_EVENTS = {
    "BATCH_STATE_SUCCEEDED": "batch.succeeded",
    "BATCH_STATE_FAILED": "batch.failed",
    "BATCH_STATE_EXPIRED": "batch.expired",
    "BATCH_STATE_CANCELLED": "batch.cancelled",
}


def gemini_event_body(event_id: str, event_type: str, data: dict[str, Any]) -> bytes:
    """A delivery as the Gemini API shapes it: a thin envelope ``{"type", "version",
    "timestamp", "data"}``, ``data`` naming the batch (``id``) and where its output is; the event's
    id travels only in the ``webhook-id`` header."""
    now = datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return orjson.dumps({"type": event_type, "version": "v1", "timestamp": now, "data": data})


def _get(d: dict[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    return d.get(camel, d.get(snake, default))


@attrs.define(kw_only=True)
class StoredFile:
    """An uploaded or generated file."""

    id: str
    display_name: str
    mime_type: str
    data: bytes = attrs.field(repr=False)
    created_at: float

    def to_json(self, base: str, version: str) -> dict[str, Any]:
        """The File resource (camelCase)."""
        return {
            "name": f"files/{self.id}",
            "displayName": self.display_name,
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": _ts(self.created_at),
            "updateTime": _ts(self.created_at),
            "expirationTime": _ts(self.created_at + 48 * 3600),
            "sha256Hash": hashlib.sha256(self.data).hexdigest(),
            "uri": f"{base}/{version}/files/{self.id}",
            "state": "ACTIVE",
            "source": "UPLOADED",
        }


@attrs.define(kw_only=True)
class Job:
    """One batch (an Operation)."""

    id: str
    model: str
    kind: str  # "generate" | "embed"
    display_name: str
    input_config: dict[str, Any]
    items: list[tuple[str | None, dict[str, Any], dict[str, Any] | None]] = attrs.field(repr=False)
    created_at: float
    per_request_s: float
    state: str = "BATCH_STATE_PENDING"
    ended_at: float | None = None
    output: dict[str, Any] | None = None
    ok: int = 0
    failed: int = 0


_TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1main"


def _response(
    job: Job, parts: list[dict[str, Any]], finish: str, prompt: int, out_tokens: int
) -> dict[str, Any]:
    return {
        "response": {
            "candidates": [
                {"content": {"parts": parts, "role": "model"}, "finishReason": finish, "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": out_tokens,
                "totalTokenCount": prompt + out_tokens,
            },
            "modelVersion": job.model,
            "responseId": secrets.token_hex(8),
        }
    }


def _tool_call(request: dict[str, Any], last: dict[str, Any], prompt: str) -> dict[str, Any] | None:
    """The functionCall the emulated model answers with (None: a text reply): with function
    declarations and a calling mode other than NONE, unless the last turn holds function
    responses (then it answers them in text)."""
    if any(
        isinstance(p, dict) and ("functionResponse" in p or "function_response" in p)
        for p in last.get("parts", [])
    ):
        return None
    declared = []
    for tool in request.get("tools") or []:
        for f in _get(tool, "functionDeclarations", "function_declarations", []) or []:
            schema = _get(f, "parametersJsonSchema", "parameters_json_schema") or f.get(
                "parameters"
            )
            declared.append((f["name"], schema))
    config = _get(request, "toolConfig", "tool_config", {}) or {}
    calling = _get(config, "functionCallingConfig", "function_calling_config", {}) or {}
    mode = str(calling.get("mode", "AUTO")).upper()
    allowed = _get(calling, "allowedFunctionNames", "allowed_function_names") or []
    choice = "none" if mode == "NONE" else (allowed[0] if allowed else "auto")
    call = tool_to_call(declared, choice, prompt)
    if call is None:
        return None
    return {"id": f"call_emu{secrets.token_hex(6)}", "name": call[0], "args": call[1]}


class EmulatorState:
    """Files, batches, the clock and the knobs tests turn."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        pending_s: float = 5.0,
        per_request_s: float = 0.5,
        window_s: float = 48 * 3600.0,
        api_key: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        self.clock = clock or ManualClock()
        self.pending_s = pending_s
        self.per_request_s = per_request_s
        self.window_s = window_s
        self.api_key = api_key
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.error_ids: set[str] = set()
        self.next_per_request_s: float | None = None
        self.lock = threading.RLock()
        #: calls served by the synchronous endpoints (the online path)
        self.sync_calls = 0
        #: where batch events are pushed (a project's static webhook: ``batch.succeeded``...),
        #: signed with ``webhook_secret``; batches then end by themselves, unasked
        self.webhooks: WebhookSender | None = None
        self._ticker: Ticker | None = None
        if webhook_url:
            self.webhooks, self._ticker = start_pushing(
                webhook_url, webhook_secret, self._advance_all, body=gemini_event_body
            )

    def close(self) -> None:
        """Stop pushing events."""
        if self._ticker is not None:
            self._ticker.close()
        if self.webhooks is not None:
            self.webhooks.close()

    def _advance_all(self) -> None:
        with self.lock:
            for job in list(self.jobs.values()):
                self.advance(job)

    def end(self, job: Job, state: str, at: float) -> None:
        """End a job in ``state``, announcing it to the webhook endpoint when there is one."""
        job.state, job.ended_at = state, at
        if self.webhooks is not None:
            data: dict[str, Any] = {"id": f"batches/{job.id}"}
            if job.output and "responsesFile" in job.output:
                data["file_name"] = job.output["responsesFile"]
            self.webhooks.send(_WEBHOOK_EVENTS[state], data)

    def advance(self, job: Job) -> None:
        """Bring a job up to the clock."""
        with self.lock:
            if job.ended_at is not None:
                return
            now = self.clock.now()
            start = job.created_at + self.pending_s
            end = start + len(job.items) * job.per_request_s
            if end > job.created_at + self.window_s and now >= job.created_at + self.window_s:
                self.end(job, "BATCH_STATE_EXPIRED", job.created_at + self.window_s)
            elif now >= end:
                self._finish(job, end)
            elif now >= start:
                job.state = "BATCH_STATE_RUNNING"

    def _finish(self, job: Job, at: float) -> None:
        outputs = [self._answer(job, key, request) for key, request, _ in job.items]
        job.ok = sum(1 for o in outputs if "response" in o)
        job.failed = len(outputs) - job.ok
        if "fileName" in job.input_config or "file_name" in job.input_config:
            lines = []
            for (key, _, _), out in zip(job.items, outputs, strict=True):
                # The real service writes "key" after "response": keep that order.
                lines.append(
                    orjson.dumps({**out, "key": key}) if key is not None else orjson.dumps(out)
                )
            fid = f"batch-{job.id}"
            self.files[fid] = StoredFile(
                id=fid,
                display_name=fid,
                mime_type="application/jsonl",
                data=b"\n".join(lines) + b"\n",
                created_at=at,
            )
            job.output = {"responsesFile": f"files/{fid}"}
        else:
            items = []
            for (_, _, meta), out in zip(job.items, outputs, strict=True):
                items.append({**out, **({"metadata": meta} if meta else {})})
            job.output = {"inlinedResponses": {"inlinedResponses": items}}
        self.end(job, "BATCH_STATE_SUCCEEDED", at)

    def _answer(self, job: Job, key: str | None, request: dict[str, Any]) -> dict[str, Any]:
        if key is not None and key in self.error_ids or "nonexistent" in job.model:
            return {
                "error": {
                    "code": 400,
                    "message": "Request rejected (emulated per-request error).",
                    "status": "INVALID_ARGUMENT",
                }
            }
        if job.kind == "embed":
            content = request.get("content") or {}
            text = " ".join(p.get("text", "") for p in content.get("parts", []))
            dims = int(_get(request, "outputDimensionality", "output_dimensionality", 0) or 768)
            values: list[float] = []
            counter = 0
            while len(values) < dims:
                digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
                values.extend((v / 2**31) - 1.0 for v in struct.unpack(">8I", digest))
                counter += 1
            return {"response": {"embedding": {"values": [round(v, 6) for v in values[:dims]]}}}
        contents = request.get("contents") or []
        if not contents:
            return {
                "error": {
                    "code": 400,
                    "message": "contents is not specified",
                    "status": "INVALID_ARGUMENT",
                }
            }

        def text_of(c: dict[str, Any]) -> str:
            return " ".join(p.get("text", "") for p in c.get("parts", []) if isinstance(p, dict))

        gen = _get(request, "generationConfig", "generation_config", {}) or {}
        limit = _get(gen, "maxOutputTokens", "max_output_tokens")
        schema = _get(gen, "responseJsonSchema", "response_json_schema") or _get(
            gen, "responseSchema", "response_schema"
        )
        prompt = sum(prompt_tokens(text_of(c), "google", job.model) for c in contents)
        system = _get(request, "systemInstruction", "system_instruction")
        if system:
            prompt += prompt_tokens(text_of(system), "google", job.model)
        call = _tool_call(request, contents[-1], text_of(contents[-1]))
        if call is not None:
            return _response(job, [{"functionCall": call}], "STOP", prompt, 16)
        if schema is not None:
            text, out_tokens = schema_reply(schema, text_of(contents[-1]))
            truncated = False
        else:
            text, truncated, out_tokens = reply_to(text_of(contents[-1]), limit)
        return _response(
            job, [{"text": text}], "MAX_TOKENS" if truncated else "STOP", prompt, out_tokens
        )

    def operation(self, job: Job) -> dict[str, Any]:
        """The Operation JSON for a job."""
        self.advance(job)
        done = job.ended_at is not None
        stats: dict[str, str] = {"requestCount": str(len(job.items))}
        if done and job.state == "BATCH_STATE_SUCCEEDED":
            if job.ok:
                stats["successfulRequestCount"] = str(job.ok)
            if job.failed:
                stats["failedRequestCount"] = str(job.failed)
        elif not done:
            stats["pendingRequestCount"] = str(len(job.items))
        kind = "GenerateContentBatch" if job.kind == "generate" else "EmbedContentBatch"
        meta: dict[str, Any] = {
            "@type": f"type.googleapis.com/google.ai.generativelanguage.v1main.{kind}",
            "model": f"models/{job.model}",
            "displayName": job.display_name,
            "inputConfig": job.input_config,
            "createTime": _ts(job.created_at),
            "updateTime": _ts(job.ended_at or job.created_at),
            "batchStats": stats,
            "state": job.state,
            "name": f"batches/{job.id}",
        }
        out: dict[str, Any] = {"name": f"batches/{job.id}", "metadata": meta}
        if done:
            meta["endTime"] = _ts(job.ended_at)
            out["done"] = True
            if job.output is not None:
                meta["output"] = job.output
                out["response"] = {
                    "@type": f"{_TYPE_PREFIX}.{kind}Output",
                    **job.output,
                }
        return out


class GoogleEmulator(EmulatorApp):
    """The emulator: state, fault injector and the ASGI app."""

    fault_routes = {
        "submit": "POST /v1beta/models/*",
        "poll_status": "GET /v1beta/batches/*",
        "cancel": "POST /v1beta/batches/*",
        "fetch_results": "GET /v1beta/files/*:download",
    }
    transient_kind = "unavailable"
    # Every API version, and the upload and download hosts' paths.
    key_prefixes = ("/v1", "/upload/", "/download/")
    state: EmulatorState

    def __init__(self, state: EmulatorState | None = None) -> None:
        super().__init__(state or EmulatorState())

    def routes(self) -> list[BaseRoute]:
        """Files (resumable upload, download), Batches, and the synchronous model actions."""
        return [
            Route("/upload/{v}/files", self.upload, methods=["POST"]),
            Route("/download/{v}/files/{rest}", self.download_alias, methods=["GET"]),
            Route("/{v}/models/{rest}", self.model_action, methods=["POST"]),
            Route("/{v}/batches", self.list_batches, methods=["GET"]),
            Route("/{v}/batches/{rest}", self.batch_get, methods=["GET"]),
            Route("/{v}/batches/{rest}", self.batch_post, methods=["POST"]),
            Route("/{v}/batches/{rest}", self.batch_delete, methods=["DELETE"]),
            Route("/{v}/files", self.file_list, methods=["GET"]),
            Route("/{v}/files/{rest}", self.file_get, methods=["GET"]),
            Route("/{v}/files/{rest}", self.file_delete, methods=["DELETE"]),
        ]

    def request_key(self, scope: Mapping[str, Any], headers: Mapping[bytes, bytes]) -> str | None:
        """``x-goog-api-key`` or ``?key=``; upload chunks carry none (the upload URL authorizes by
        itself, like the real one)."""
        query = scope.get("query_string", b"")
        if b"upload_id=" in query:
            return None
        key = headers.get(b"x-goog-api-key", b"").decode()
        return key or next((p[4:] for p in query.decode().split("&") if p.startswith("key=")), "")

    def unauthorized(self, key: str) -> Response:
        """Google's answer: 401 without a key, 400 with a wrong one."""
        return _error(401 if not key else 400, "API key not valid. Please pass a valid API key.")

    def fault_body(self, kind: str, status: int) -> dict[str, Any]:
        """Google's error shape."""
        return _error_body(status, f"emulated {kind}")

    def count_key(self, method: str, path: str) -> str | None:
        """By method and the path's second segment."""
        if path.startswith("/_emulator"):
            return None
        return f"{method} {path.split('/')[2] if path.count('/') > 1 else ''}"

    def stats(self) -> dict[str, Any]:
        """Batches and files besides the common counters."""
        return {"batches": len(self.state.jobs), "files": len(self.state.files), **super().stats()}

    @staticmethod
    def _base(request: Request) -> str:
        return f"http://{request.headers.get('host', request.url.netloc)}"

    # -- files -----------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        v = request.path_params["v"]
        upload_id = request.query_params.get("upload_id")
        command = request.headers.get("x-goog-upload-command", "")
        if upload_id is None:  # start
            if "start" not in command:
                return _error(400, "expected X-Goog-Upload-Command: start")
            meta = orjson.loads(await request.body() or b"{}").get("file", {})
            new_id = secrets.token_hex(8)
            self.state.uploads[new_id] = {
                "data": bytearray(),
                "display_name": _get(meta, "displayName", "display_name", ""),
                "mime_type": request.headers.get("x-goog-upload-header-content-type")
                or _get(meta, "mimeType", "mime_type", "application/octet-stream"),
            }
            url = f"{self._base(request)}/upload/{v}/files?upload_id={new_id}"
            return _json({}, headers={"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})
        upload = self.state.uploads.get(upload_id)
        if upload is None:
            return _error(404, "unknown upload")
        offset = int(request.headers.get("x-goog-upload-offset", "0"))
        if offset != len(upload["data"]):
            return _error(
                400, f"offset {offset} does not match the {len(upload['data'])} bytes received"
            )
        upload["data"].extend(await request.body())
        if "finalize" not in command:
            return _json({}, headers={"X-Goog-Upload-Status": "active"})
        del self.state.uploads[upload_id]
        f = StoredFile(
            id=secrets.token_hex(6),
            display_name=upload["display_name"],
            mime_type=upload["mime_type"],
            data=bytes(upload["data"]),
            created_at=self.state.clock.now(),
        )
        self.state.files[f.id] = f
        return _json(
            {"file": f.to_json(self._base(request), v)}, headers={"X-Goog-Upload-Status": "final"}
        )

    async def file_get(self, request: Request) -> Response:
        file_id, _, action = request.path_params["rest"].partition(":")
        f = self.state.files.get(file_id)
        if f is None:
            return _error(404, f"File {file_id} not found")
        if action == "download":
            if f.id.startswith("batch-") is False:
                return _error(400, "Only generated files can be downloaded")
            return Response(f.data, media_type="application/octet-stream")
        return _json(f.to_json(self._base(request), request.path_params["v"]))

    async def file_list(self, request: Request) -> Response:
        """``files.list``: uploaded files, ``pageSize`` at a time, oldest first."""
        size = int(request.query_params.get("pageSize", "10"))
        start = int(request.query_params.get("pageToken") or 0)
        uploaded = [f for f in self.state.files.values() if not f.id.startswith("batch-")]
        page = uploaded[start : start + size]
        body: dict[str, Any] = {
            "files": [f.to_json(self._base(request), request.path_params["v"]) for f in page]
        }
        if start + size < len(uploaded):
            body["nextPageToken"] = str(start + size)
        return _json(body)

    async def download_alias(self, request: Request) -> Response:
        return await self.file_get(request)

    async def file_delete(self, request: Request) -> Response:
        if self.state.files.pop(request.path_params["rest"], None) is None:
            return _error(404, "File not found")
        return _json({})

    # -- batches ---------------------------------------------------------------------------------

    async def model_action(self, request: Request) -> Response:
        model, _, action = request.path_params["rest"].partition(":")
        if action in ("generateContent", "batchEmbedContents"):
            return await self._sync(model.removeprefix("models/"), action, request)
        if action not in ("batchGenerateContent", "asyncBatchEmbedContent"):
            return _error(404, f"unknown method {action}")
        body = orjson.loads(await request.body() or b"{}")
        batch = body.get("batch", body)
        input_config = _get(batch, "inputConfig", "input_config", {}) or {}
        file_name = _get(input_config, "fileName", "file_name")
        items: list[tuple[str | None, dict[str, Any], dict[str, Any] | None]] = []
        if file_name:
            f = self.state.files.get(str(file_name).split("/", 1)[-1])
            if f is None:
                return _error(400, f"Input file {file_name} not found")
            for raw in f.data.splitlines():
                if not raw.strip():
                    continue
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    return _error(400, "Input file contains an invalid JSON line")
                if "request" in line:
                    items.append((line.get("key"), line["request"], None))
                else:  # bare GenerateContentRequest lines are accepted too
                    items.append((None, line, None))
        else:
            requests = (_get(input_config, "requests", "requests", {}) or {}).get("requests", [])
            for r in requests:
                items.append(
                    ((r.get("metadata") or {}).get("key"), r.get("request", {}), r.get("metadata"))
                )
        if not items:
            return _error(400, "The batch has no requests")
        with self.state.lock:
            per = next_job_pace(self.state)
            job = Job(
                id=secrets.token_hex(16),
                model=model.removeprefix("models/"),
                kind="generate" if action == "batchGenerateContent" else "embed",
                display_name=_get(batch, "displayName", "display_name", "") or "",
                input_config={"fileName": file_name}
                if file_name
                else {"requests": {"requests": []}},
                items=items,
                created_at=self.state.clock.now(),
                per_request_s=per,
            )
            self.state.jobs[job.id] = job
        return _json(self.state.operation(job))

    async def _sync(self, model: str, action: str, request: Request) -> Response:
        """``:generateContent`` and ``:batchEmbedContents`` (the online path), answered at once."""
        body = orjson.loads(await request.body() or b"{}")
        self.state.sync_calls += 1
        probe = Job(
            id="sync",
            model=model,
            kind="embed" if action == "batchEmbedContents" else "generate",
            display_name="",
            input_config={},
            items=[],
            created_at=self.state.clock.now(),
            per_request_s=0,
        )
        if action == "batchEmbedContents":
            outs = [self.state._answer(probe, None, r) for r in body.get("requests", [])]
            if any("error" in o for o in outs):
                return _error(400, "an embedding request was rejected")
            return _json({"embeddings": [o["response"]["embedding"] for o in outs]})
        out = self.state._answer(probe, None, body)
        if "error" in out:
            return _error(out["error"]["code"], out["error"]["message"])
        return _json(out["response"])

    def _job(self, request: Request) -> tuple[Job | None, str]:
        job_id, _, action = request.path_params["rest"].partition(":")
        return self.state.jobs.get(job_id), action

    async def batch_get(self, request: Request) -> Response:
        job, _ = self._job(request)
        if job is None:
            return _error(404, "Batch not found")
        return _json(self.state.operation(job))

    async def batch_post(self, request: Request) -> Response:
        job, action = self._job(request)
        if job is None:
            return _error(404, "Batch not found")
        if action == "cancel":
            with self.state.lock:
                self.state.advance(job)
                if job.ended_at is None:
                    self.state.end(job, "BATCH_STATE_CANCELLED", self.state.clock.now())
            return _json({})
        if action == "delete":
            return await self.batch_delete(request)
        return _error(404, f"unknown method {action}")

    async def batch_delete(self, request: Request) -> Response:
        job, _ = self._job(request)
        if job is None:
            return _error(404, "Batch not found")
        del self.state.jobs[job.id]
        return _json({})

    async def list_batches(self, request: Request) -> Response:
        size = int(
            request.query_params.get("pageSize", request.query_params.get("page_size", "50"))
        )
        start = int(
            request.query_params.get("pageToken", request.query_params.get("page_token", "0")) or 0
        )
        with self.state.lock:
            ordered = sorted(
                self.state.jobs.values(), key=lambda j: (j.created_at, j.id), reverse=True
            )
            page = [self.state.operation(j) for j in ordered[start : start + size]]
        out: dict[str, Any] = {"operations": page}
        if start + size < len(ordered):
            out["nextPageToken"] = str(start + size)
        return _json(out)


def create_app(options: dict[str, Any] | None = None) -> GoogleEmulator:
    """Build the emulator. Options: ``speed`` (wall clock x speed; default: a manual clock),
    ``api_key``, ``webhook_url`` and ``webhook_secret`` (push signed batch events there, as a
    project's static webhook does), and any :class:`EmulatorState` timing argument."""
    known = ("pending_s", "per_request_s", "window_s", "api_key", "webhook_url", "webhook_secret")
    return GoogleEmulator(EmulatorState(**state_options(options, known)))
