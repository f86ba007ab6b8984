"""A local emulator of Together AI's Files and Batch API that the unmodified ``together`` SDK
works against.

    batch-router emulate together --port 8080
    TOGETHER_BASE_URL=http://127.0.0.1:8080 TOGETHER_API_KEY=anything python my_pipeline.py

Jobs run through the same lifecycle as the OpenAI emulator's batches (core's
:class:`~batch_router_core.formats.openai_batch.emulator.EmulatorState`, with ``{"custom_id",
"body"}`` lines); this module adds Together's surface: the three-step upload the SDK makes (``POST
/v1/files`` answered with a 302 to a signed URL, a ``PUT`` of the bytes there, ``POST
/v1/files/{id}/preprocess``), the job object (``progress`` instead of counts, ISO times, no
metadata), its upper-case statuses, lists as bare arrays, and custom_ids of at most 64 characters.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from batch_router_core.emulation.base import EmulatorApp, state_options
from batch_router_core.formats.openai_batch.emulator.app import STATE_OPTIONS, json_response
from batch_router_core.formats.openai_batch.emulator.state import (
    TERMINAL,
    BatchRecord,
    EmulatorState,
    FileRecord,
)
from batch_router_core.formats.openai_batch.emulator.stored import StoredFileRoutes
from batch_router_core.formats.openai_batch.provider import window_hours

__all__ = ["TogetherEmulator", "create_app"]

CHAT = "/v1/chat/completions"
#: The emulator's lifecycle, in Together's words (it has no word for "finalizing" or
#: "cancelling": cancels here end at once).
_STATUS = {
    "validating": "VALIDATING",
    "in_progress": "IN_PROGRESS",
    "finalizing": "IN_PROGRESS",
    "completed": "COMPLETED",
    "failed": "FAILED",
    "expired": "EXPIRED",
    "cancelling": "IN_PROGRESS",
    "cancelled": "CANCELLED",
}
MAX_CUSTOM_ID = 64


def _error(status: int, message: str) -> Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return json_response(body, status)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _file_json(rec: FileRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "object": "file",
        "bytes": rec.bytes,
        "created_at": rec.created_at,
        "filename": rec.filename,
        "FileType": "jsonl",
        "purpose": "batch-api",
        "processing_status": "COMPLETED",
    }


def _job_json(rec: BatchRecord) -> dict[str, Any]:
    done = rec.done_count + rec.failed_count
    ended = rec.completed_at or rec.expired_at or rec.cancelled_at or rec.failed_at
    return {
        "id": rec.id,
        "user_id": "user-emulator",
        "input_file_id": rec.input_file_id,
        "file_size_bytes": None,
        "status": _STATUS[rec.status],
        "job_deadline": _iso(rec.created_at + rec.window_s),
        "created_at": _iso(rec.created_at),
        "endpoint": rec.endpoint,
        "progress": 100.0 * done / rec.total if rec.total else 0.0,
        "model_id": rec.model,
        "output_file_id": rec.output_file_id,
        "error_file_id": rec.error_file_id,
        "error": "; ".join(e["message"] for e in rec.errors) if rec.errors else None,
        "completed_at": _iso(ended) if rec.status in TERMINAL else None,
    }


class TogetherEmulator(StoredFileRoutes, EmulatorApp):
    """Together's Files and Batch routes, its signed-URL upload, and chat completions."""

    fault_routes = {
        "submit": "POST /v1/files",
        "poll_status": "GET /v1/batches/*",
        "cancel": "POST /v1/batches/*/cancel",
        "fetch_results": "GET /v1/files/*/content",
    }
    state: EmulatorState

    def __init__(self, state: EmulatorState | None = None) -> None:
        #: uploads announced but not yet sent: file id -> (name, sha256)
        self.pending: dict[str, tuple[str, str]] = {}
        super().__init__(state or EmulatorState(endpoints={CHAT: CHAT}, body_lines=True))

    def routes(self) -> list[BaseRoute]:
        """Files (with the signed-URL upload), batches and chat completions."""
        return [
            Route("/v1/files", self.announce_upload, methods=["POST"]),
            Route("/v1/files", self.list_files, methods=["GET"]),
            Route("/v1/files/{file_id}", self.get_file, methods=["GET"]),
            Route("/v1/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route("/v1/files/{file_id}/content", self.file_content, methods=["GET"]),
            Route("/v1/files/{file_id}/preprocess", self.preprocess, methods=["POST"]),
            Route("/_signed_upload/{file_id}", self.receive_upload, methods=["PUT"]),
            Route("/v1/batches", self.create_batch, methods=["POST"]),
            Route("/v1/batches", self.list_batches, methods=["GET"]),
            Route("/v1/batches/{batch_id}", self.get_batch, methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self.cancel_batch, methods=["POST"]),
            Route(CHAT, self.sync_call, methods=["POST"]),
        ]

    def file_json(self, rec: FileRecord) -> dict[str, Any]:
        """Together's file object."""
        return _file_json(rec)

    def missing(self, what: str) -> Response:
        """Together's 404."""
        return _error(404, f"{what} not found")

    def unauthorized(self, key: str) -> Response:
        """Together's 401."""
        return _error(401, "Invalid API key provided.")

    def count_key(self, method: str, path: str) -> str | None:
        """By method and resource (``files``, ``batches``...); the signed upload as ``upload``."""
        if path.startswith("/_signed_upload/"):
            return f"{method} upload"
        return f"{method} {path.split('/')[2]}" if path.startswith("/v1/") else None

    # -- files -----------------------------------------------------------------------------------

    async def announce_upload(self, request: Request) -> Response:
        """Step one: the SDK names the file; the answer is a 302 to where the bytes go."""
        form = await request.form()
        name, purpose, checksum = (form.get(k) for k in ("file_name", "purpose", "checksum"))
        if not isinstance(name, str) or purpose != "batch-api" or not isinstance(checksum, str):
            return _error(400, "file_name, purpose 'batch-api' and checksum are required")
        file_id = f"file-{uuid.uuid4()}"
        self.pending[file_id] = (name, checksum)
        location = str(request.base_url).rstrip("/") + f"/_signed_upload/{file_id}"
        return Response(
            status_code=302, headers={"Location": location, "X-Together-File-Id": file_id}
        )

    async def receive_upload(self, request: Request) -> Response:
        """Step two: the bytes, checked against the announced checksum."""
        file_id = request.path_params["file_id"]
        if file_id not in self.pending:
            return Response(status_code=403)
        data = await request.body()
        if len(data) > self.state.max_upload_bytes:
            return Response(status_code=413)
        name, checksum = self.pending[file_id]
        if hashlib.sha256(data).hexdigest() != checksum:
            return Response(b"checksum mismatch", status_code=400)
        rec = self.state.add_file(name, "batch", data)
        with self.state.lock:  # the file keeps the id the SDK was given
            del self.state.files[rec.id]
            rec.id = file_id
            self.state.files[file_id] = rec
        del self.pending[file_id]
        return Response(status_code=200)

    async def preprocess(self, request: Request) -> Response:
        """Step three: the file is ready."""
        rec = self.state.files.get(request.path_params["file_id"])
        if rec is None:
            return self.missing("File")
        return json_response(_file_json(rec))

    async def list_files(self, request: Request) -> Response:
        with self.state.lock:
            data = [_file_json(f) for f in self.state.files.values()]
        return json_response({"data": data})

    # -- batches ---------------------------------------------------------------------------------

    async def create_batch(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "Invalid JSON body")
        if body.get("endpoint") != CHAT:
            return _error(400, f"Unsupported endpoint {body.get('endpoint')!r}")
        f = self.state.files.get(body.get("input_file_id", ""))
        if f is None:
            return _error(404, f"Input file {body.get('input_file_id')!r} not found")
        too_long = [
            n
            for n, raw in enumerate(f.path.read_bytes().splitlines(), 1)
            if len(str(orjson.loads(raw).get("custom_id", ""))) > MAX_CUSTOM_ID
        ]
        if too_long:
            return _error(
                400, f"custom_id longer than {MAX_CUSTOM_ID} characters on line(s) {too_long[:10]}"
            )
        window = str(body.get("completion_window") or "24h")
        hours = window_hours(window)
        if hours is None:
            return _error(400, f"Invalid completion_window {window!r}")
        rec = self.state.create_batch(
            f.id, CHAT, window, None, window_s=hours * 3600.0, model=body.get("model_id")
        )
        return json_response({"job": _job_json(rec), "warning": None})

    async def list_batches(self, request: Request) -> Response:
        with self.state.lock:
            for rec in self.state.batches.values():
                self.state._advance(rec)
            data = [_job_json(b) for b in self.state.batches.values()]
        return json_response(data)

    async def get_batch(self, request: Request) -> Response:
        rec = self.state.get_batch(request.path_params["batch_id"])
        if rec is None:
            return self.missing("Batch job")
        return json_response(_job_json(rec))

    async def cancel_batch(self, request: Request) -> Response:
        rec = self.state.get_batch(request.path_params["batch_id"])
        if rec is None:
            return self.missing("Batch job")
        if rec.status in TERMINAL:
            return _error(400, f"Batch job is already {_STATUS[rec.status]}")
        self.state.cancel_batch(rec)
        return json_response(_job_json(rec))

    # -- chat completions ------------------------------------------------------------------------

    async def sync_call(self, request: Request) -> Response:
        """Chat completions, answered at once with the batch's deterministic answers."""
        out = self.sync_answer(CHAT, orjson.loads(await request.body()))
        return out if isinstance(out, Response) else json_response(out)


def create_app(options: dict[str, Any] | None = None) -> TogetherEmulator:
    """Build the emulator (the OpenAI emulator's options: ``speed``, ``api_key``, timings,
    limits). A cancel ends a job at once: Together has no cancelling status."""
    kwargs = {"cancel_s": 0.0, **state_options(options, STATE_OPTIONS)}
    return TogetherEmulator(EmulatorState(endpoints={CHAT: CHAT}, body_lines=True, **kwargs))
