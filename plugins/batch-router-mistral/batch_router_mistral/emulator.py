"""A local emulator of Mistral AI's Files and Batch API that the unmodified ``mistralai`` SDK works
against.

    batch-router emulate mistral --port 8080
    python -c "from mistralai.client import Mistral; Mistral(api_key='x', server_url='http://127.0.0.1:8080')"

Jobs run through the same lifecycle as the OpenAI emulator's batches (core's
:class:`~batch_router_core.formats.openai_batch.emulator.EmulatorState`, with ``{"custom_id",
"body"}`` lines); what this module adds is Mistral's surface: ``/v1/batch/jobs`` with
``input_files``, ``model``, ``metadata`` and ``timeout_hours`` (1 to 168), its job object and
statuses (QUEUED, RUNNING, SUCCESS, FAILED, TIMEOUT_EXCEEDED, CANCELLATION_REQUESTED, CANCELLED),
its file objects, page-numbered lists and its errors.
"""

from __future__ import annotations

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

__all__ = ["MistralEmulator", "create_app"]

ENDPOINTS = {"/v1/chat/completions": "/v1/chat/completions", "/v1/embeddings": "/v1/embeddings"}
#: The emulator's lifecycle, in Mistral's words.
_STATUS = {
    "validating": "QUEUED",
    "in_progress": "RUNNING",
    "finalizing": "RUNNING",
    "completed": "SUCCESS",
    "failed": "FAILED",
    "expired": "TIMEOUT_EXCEEDED",
    "cancelling": "CANCELLATION_REQUESTED",
    "cancelled": "CANCELLED",
}
_SAMPLE_TYPE = {"batch": "batch_request", "batch_output": "batch_result"}


def _error(status: int, message: str) -> Response:
    body = {"object": "error", "message": message, "type": "invalid_request_error", "code": None}
    return json_response(body, status)


def _file_json(rec: FileRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "object": "file",
        "bytes": rec.bytes,
        "created_at": rec.created_at,
        "filename": rec.filename,
        "purpose": "batch",
        "sample_type": _SAMPLE_TYPE.get(rec.purpose, "batch_error"),
        "source": "upload" if rec.purpose == "batch" else "mistral",
        "num_lines": None,
        "mimetype": "application/jsonl",
    }


def _job_json(rec: BatchRecord, input_files: list[str]) -> dict[str, Any]:
    def ts(v: float | None) -> int | None:
        return int(v) if v is not None else None

    failed_validation = rec.status == "failed"
    return {
        "id": rec.id,
        "object": "batch",
        "input_files": input_files,
        "metadata": rec.metadata,
        "endpoint": rec.endpoint,
        "model": rec.model,
        "output_file": rec.output_file_id,
        "error_file": rec.error_file_id,
        "errors": [{"message": e["message"], "count": 1} for e in rec.errors or []],
        "status": _STATUS[rec.status],
        "created_at": ts(rec.created_at),
        "total_requests": rec.total,
        "completed_requests": rec.done_count + rec.failed_count,
        "succeeded_requests": rec.done_count,
        "failed_requests": rec.failed_count,
        "started_at": ts(rec.in_progress_at),
        "completed_at": ts(
            rec.completed_at
            or rec.expired_at
            or rec.cancelled_at
            or (rec.failed_at if failed_validation else None)
        ),
    }


class MistralEmulator(StoredFileRoutes, EmulatorApp):
    """Mistral's Files and Batch routes and its synchronous chat and embeddings."""

    fault_routes = {
        "submit": "POST /v1/files",
        "poll_status": "GET /v1/batch/jobs/*",
        "cancel": "POST /v1/batch/jobs/*/cancel",
        "fetch_results": "GET /v1/files/*/content",
    }
    state: EmulatorState

    def __init__(self, state: EmulatorState | None = None) -> None:
        #: each job's input files as it was created with them
        self.inputs: dict[str, list[str]] = {}
        super().__init__(state or EmulatorState(endpoints=ENDPOINTS, body_lines=True))

    def routes(self) -> list[BaseRoute]:
        """Files, batch jobs, chat and embeddings."""
        return [
            Route("/v1/files", self.upload_file, methods=["POST"]),
            Route("/v1/files", self.list_files, methods=["GET"]),
            Route("/v1/files/{file_id}", self.get_file, methods=["GET"]),
            Route("/v1/files/{file_id}", self.delete_file, methods=["DELETE"]),
            Route("/v1/files/{file_id}/content", self.file_content, methods=["GET"]),
            Route("/v1/batch/jobs", self.create_job, methods=["POST"]),
            Route("/v1/batch/jobs", self.list_jobs, methods=["GET"]),
            Route("/v1/batch/jobs/{job_id}", self.get_job, methods=["GET"]),
            Route("/v1/batch/jobs/{job_id}/cancel", self.cancel_job, methods=["POST"]),
            Route("/v1/chat/completions", self.sync_call, methods=["POST"]),
            Route("/v1/embeddings", self.sync_call, methods=["POST"]),
        ]

    def file_json(self, rec: FileRecord) -> dict[str, Any]:
        """Mistral's file object."""
        return _file_json(rec)

    def missing(self, what: str) -> Response:
        """Mistral's 404."""
        return _error(404, f"{what} not found")

    def unauthorized(self, key: str) -> Response:
        """Mistral's 401."""
        return json_response({"message": "Unauthorized", "request_id": "emulated"}, 401)

    def fault_body(self, kind: str, status: int) -> dict[str, Any]:
        """Mistral's error shape."""
        return {"object": "error", "message": f"emulated {kind}", "type": kind, "code": status}

    def count_key(self, method: str, path: str) -> str | None:
        """By method and resource (``files``, ``batch``...)."""
        return f"{method} {path.split('/')[2]}" if path.startswith("/v1/") else None

    def _job(self, rec: BatchRecord) -> Response:
        return json_response(_job_json(rec, self.inputs.get(rec.id, [rec.input_file_id])))

    # -- files -----------------------------------------------------------------------------------

    async def upload_file(self, request: Request) -> Response:
        form = await request.form(max_part_size=self.state.max_upload_bytes)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error(422, "file: Field required")
        data = await upload.read()
        if len(data) > self.state.max_upload_bytes:
            return _error(400, "File is too large.")
        purpose = form.get("purpose")
        rec = self.state.add_file(upload.filename or "upload", str(purpose or "batch"), data)
        return json_response(_file_json(rec))

    async def list_files(self, request: Request) -> Response:
        search = request.query_params.get("search")
        page = int(request.query_params.get("page", "0"))
        size = int(request.query_params.get("page_size", "100"))
        with self.state.lock:
            files = [f for f in self.state.files.values() if search is None or search in f.filename]
        chunk = files[page * size : (page + 1) * size]
        return json_response(
            {"data": [_file_json(f) for f in chunk], "object": "list", "total": len(files)}
        )

    # -- jobs ------------------------------------------------------------------------------------

    async def create_job(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "Invalid JSON body")
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            return _error(422, f"endpoint: unsupported value {endpoint!r}")
        hours = body.get("timeout_hours", 24)
        if not isinstance(hours, int) or not 1 <= hours <= 168:
            return _error(422, "timeout_hours: must be an integer from 1 to 168")
        metadata = body.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
        ):
            return _error(422, "metadata: a mapping of strings to strings")
        ids = body.get("input_files") or []
        files = [self.state.files.get(i) for i in ids]
        if not ids or any(f is None for f in files):
            return _error(404, f"input_files: no such file among {ids!r}")
        input_id = str(ids[0])
        if len(ids) > 1:  # one job over several files: their lines, in order
            data = b"".join(f.path.read_bytes().rstrip(b"\n") + b"\n" for f in files if f)
            input_id = self.state.add_file(f"{'+'.join(ids)}.jsonl", "batch_input", data).id
        rec = self.state.create_batch(
            input_id,
            str(endpoint),
            f"{hours}h",
            metadata,
            window_s=hours * 3600.0,
            model=body.get("model"),
        )
        self.inputs[rec.id] = list(ids)
        return self._job(rec)

    async def list_jobs(self, request: Request) -> Response:
        page = int(request.query_params.get("page", "0"))
        size = int(request.query_params.get("page_size", "100"))
        with self.state.lock:
            ordered = sorted(
                self.state.batches.values(), key=lambda b: (b.created_at, b.id), reverse=True
            )
            chunk = ordered[page * size : (page + 1) * size]
            for rec in chunk:
                self.state._advance(rec)
            data = [_job_json(b, self.inputs.get(b.id, [b.input_file_id])) for b in chunk]
        return json_response({"data": data, "object": "list", "total": len(ordered)})

    async def get_job(self, request: Request) -> Response:
        rec = self.state.get_batch(request.path_params["job_id"])
        if rec is None:
            return self.missing("Batch job")
        return self._job(rec)

    async def cancel_job(self, request: Request) -> Response:
        rec = self.state.get_batch(request.path_params["job_id"])
        if rec is None:
            return self.missing("Batch job")
        if rec.status in TERMINAL:
            return _error(400, f"Batch job is already {_STATUS[rec.status]}")
        self.state.cancel_batch(rec)
        return self._job(rec)

    # -- synchronous endpoints -------------------------------------------------------------------

    async def sync_call(self, request: Request) -> Response:
        """Chat and embeddings, answered at once with the batch's deterministic answers."""
        body = orjson.loads(await request.body())
        if "inputs" in body and "input" not in body:
            body["input"] = body.pop("inputs")
        out = self.sync_answer(request.url.path, body)
        if isinstance(out, Response):
            return out
        out.setdefault("id", f"emb-{self.state.sync_calls}")  # Mistral's embeddings carry one
        return json_response(out)


def create_app(options: dict[str, Any] | None = None) -> MistralEmulator:
    """Build the emulator (the OpenAI emulator's options: ``speed``, ``api_key``, timings,
    limits; up to 1,000,000 requests a job)."""
    kwargs = {"max_requests": 1_000_000, **state_options(options, STATE_OPTIONS)}
    return MistralEmulator(EmulatorState(endpoints=ENDPOINTS, body_lines=True, **kwargs))
