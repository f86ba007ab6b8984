"""The OpenAI Batch API emulator: the routes the official SDK calls, as a Starlette app.

Base URL for the SDK: ``http://HOST:PORT/v1``. Control routes for tests and users live under
``/_emulator`` (advance the clock, inject faults, per-request errors, counters).

Services that copied OpenAI's Files and Batches API (Azure OpenAI, Groq...) subclass
:class:`OpenAIEmulator` and change what differs: where the routes live (``prefix``), the
completion windows they take (``windows``), their synchronous routes and their key header.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from batch_router_core.emulation.base import EmulatorApp, state_options
from batch_router_core.emulation.clock import ManualClock

from .answers import BodyError, answer
from .state import TERMINAL, EmulatorState

__all__ = ["STATE_OPTIONS", "OpenAIEmulator", "create_app", "json_response", "openai_error"]


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON response."""
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def openai_error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Response:
    """An error answer in OpenAI's shape (which the services that copied the API share)."""
    return json_response(
        {"error": {"message": message, "type": type, "param": param, "code": code}}, status
    )


def _fault_body(kind: str, status: int) -> dict[str, Any]:
    messages = {
        429: ("Rate limit reached for requests", "rate_limit_exceeded", "requests"),
        401: ("Incorrect API key provided.", "invalid_api_key", "invalid_request_error"),
    }
    message, code, type_ = messages.get(
        status, ("The server had an error while processing your request.", None, "server_error")
    )
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


#: OpenAI's synchronous endpoints the emulator answers
SYNC_ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/responses")


def _fault_routes(prefix: str) -> dict[str, str]:
    return {
        "submit": f"POST {prefix}/files",
        "poll_status": f"GET {prefix}/batches/*",
        "cancel": f"POST {prefix}/batches/*/cancel",
        "fetch_results": f"GET {prefix}/files/*/content",
    }


class OpenAIEmulator(EmulatorApp):
    """The emulator: its state, its fault injector and the ASGI app serving both."""

    #: where the Files and Batches routes live (a subclass's routes, faults and key checks follow)
    prefix: ClassVar[str] = "/v1"
    fault_routes = _fault_routes("/v1")
    state: EmulatorState

    def __init_subclass__(cls, **kwargs: Any) -> None:
        cls.fault_routes = _fault_routes(cls.prefix)
        cls.key_prefixes = (f"{cls.prefix}/",)
        super().__init_subclass__(**kwargs)

    def __init__(self, state: EmulatorState | None = None) -> None:
        super().__init__(state or EmulatorState())

    def routes(self) -> list[BaseRoute]:
        """Files, Batches, the synchronous endpoints, and the HTTP controls."""
        p = self.prefix
        return [
            Route(f"{p}/files", self.upload_file, methods=["POST"]),
            Route(f"{p}/files", self.list_files, methods=["GET"]),
            Route(f"{p}/files/{{file_id}}", self.get_file, methods=["GET"]),
            Route(f"{p}/files/{{file_id}}", self.delete_file, methods=["DELETE"]),
            Route(f"{p}/files/{{file_id}}/content", self.file_content, methods=["GET"]),
            Route(f"{p}/batches", self.create_batch, methods=["POST"]),
            Route(f"{p}/batches", self.list_batches, methods=["GET"]),
            Route(f"{p}/batches/{{batch_id}}", self.get_batch, methods=["GET"]),
            Route(f"{p}/batches/{{batch_id}}/cancel", self.cancel_batch, methods=["POST"]),
            *self.sync_routes(),
            Route("/_emulator/advance", self.control_advance, methods=["POST"]),
            Route("/_emulator/faults", self.control_faults, methods=["POST"]),
            Route("/_emulator/errors", self.control_errors, methods=["POST"]),
        ]

    def window_seconds(self, window: object) -> float | str | None:
        """The length of a completion window a batch asks for, in seconds (None: the state's
        ``window_s``), or why it is refused. OpenAI takes ``24h`` only."""
        return None if window == "24h" else "only '24h' is supported."

    def list_page(self, request: Request) -> tuple[int, str | None] | Response:
        """The page of batches a list asks for: ``(limit, after)``, or the error answer."""
        try:
            limit = int(request.query_params.get("limit", "20"))
        except ValueError:
            return openai_error(400, "Invalid 'limit'", param="limit")
        if not 1 <= limit <= 100:
            return openai_error(400, "'limit' must be between 1 and 100", param="limit")
        return limit, request.query_params.get("after")

    def sync_routes(self) -> list[BaseRoute]:
        """The synchronous endpoints (the online path), each answered by :meth:`sync_call`."""
        return [
            Route(endpoint, self.sync_call, methods=["POST"])
            for endpoint in (
                "/v1/chat/completions",
                "/v1/embeddings",
                "/v1/completions",
                "/v1/responses",
            )
        ]

    def sync_endpoint(self, request: Request) -> str:
        """The OpenAI endpoint whose answer a synchronous request gets."""
        return request.url.path

    def unauthorized(self, key: str) -> Response:
        """OpenAI's 401."""
        return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")

    def fault_body(self, kind: str, status: int) -> dict[str, Any]:
        """OpenAI's error shape."""
        return _fault_body(kind, status)

    def count_key(self, method: str, path: str) -> str | None:
        """By method and resource (``files``, ``batches``...)."""
        if path.startswith(self.key_prefixes):
            return f"{method} {path[len(self.prefix) :].split('/')[1]}"
        return None

    def stats(self) -> dict[str, Any]:
        """Batches and files besides the common counters."""
        with self.state.lock:
            return {
                "batches": len(self.state.batches),
                "files": len(self.state.files),
                **super().stats(),
            }

    # -- files ---------------------------------------------------------------------------------

    async def upload_file(self, request: Request) -> Response:
        form = await request.form(max_part_size=self.state.max_upload_bytes)
        purpose = form.get("purpose")
        upload = form.get("file")
        if not isinstance(purpose, str) or upload is None or isinstance(upload, str):
            return openai_error(400, "'file' and 'purpose' are required", param="file")
        data = await upload.read()
        filename = upload.filename or "upload"
        if len(data) > self.state.max_upload_bytes:
            return openai_error(400, "File is too large.", param="file")
        if purpose == "batch" and not filename.endswith(".jsonl"):
            return openai_error(
                400, "Invalid file format for Batch API. Must be .jsonl", param="file"
            )
        expires = form.get("expires_after[seconds]")
        rec = self.state.add_file(
            filename,
            purpose,
            data,
            int(expires) if isinstance(expires, str) and expires.isdigit() else None,
        )
        return json_response(rec.to_json())

    async def list_files(self, request: Request) -> Response:
        purpose = request.query_params.get("purpose")
        with self.state.lock:
            data = [f.to_json() for f in self.state.files.values() if purpose in (None, f.purpose)]
        return json_response(
            {
                "object": "list",
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    def _no_file(self, request: Request) -> Response:
        return openai_error(
            404, f"No such File object: {request.path_params['file_id']}", param="id"
        )

    def _file(self, request: Request) -> Any:
        return self.state.files.get(request.path_params["file_id"])

    async def get_file(self, request: Request) -> Response:
        rec = self._file(request)
        if rec is None:
            return openai_error(
                404, f"No such File object: {request.path_params['file_id']}", param="id"
            )
        return json_response(rec.to_json())

    async def delete_file(self, request: Request) -> Response:
        with self.state.lock:
            rec = self.state.files.pop(request.path_params["file_id"], None)
        if rec is None:
            return openai_error(
                404, f"No such File object: {request.path_params['file_id']}", param="id"
            )
        rec.path.unlink(missing_ok=True)
        return json_response({"id": rec.id, "object": "file", "deleted": True})

    async def file_content(self, request: Request) -> Response:
        rec = self._file(request)
        if rec is None:
            return openai_error(
                404, f"No such File object: {request.path_params['file_id']}", param="id"
            )
        return Response(rec.path.read_bytes(), media_type="application/octet-stream")

    # -- batches -------------------------------------------------------------------------------

    async def create_batch(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return openai_error(400, "We could not parse the JSON body of your request.")
        endpoint = body.get("endpoint")
        if endpoint not in self.state.endpoints:
            return openai_error(
                400, f"Invalid value for 'endpoint': {endpoint!r}", param="endpoint"
            )
        window = body.get("completion_window")
        window_s = self.window_seconds(window)
        if isinstance(window_s, str):
            return openai_error(
                400,
                f"Invalid value for 'completion_window': {window!r}; {window_s}",
                param="completion_window",
            )
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or len(metadata) > 16
            or any(
                len(str(k)) > 64 or not isinstance(v, str) or len(v) > 512
                for k, v in metadata.items()
            )
        ):
            return openai_error(
                400,
                "Invalid 'metadata': at most 16 string pairs, keys <= 64 and "
                "values <= 512 characters.",
                param="metadata",
            )
        f = self.state.files.get(body.get("input_file_id", ""))
        if f is None:
            return openai_error(
                400,
                f"Invalid 'input_file_id': {body.get('input_file_id')!r}",
                param="input_file_id",
            )
        if f.purpose != "batch":
            return openai_error(
                400, "The input file must be uploaded with purpose 'batch'.", param="input_file_id"
            )
        rec = self.state.create_batch(f.id, endpoint, str(window), metadata, window_s)
        return json_response(rec.to_json())

    async def list_batches(self, request: Request) -> Response:
        asked = self.list_page(request)
        if isinstance(asked, Response):
            return asked
        limit, after = asked
        with self.state.lock:
            # Newest first, like the real list.
            ordered = sorted(
                self.state.batches.values(), key=lambda b: (b.created_at, b.id), reverse=True
            )
            if after is not None:
                ids = [b.id for b in ordered]
                ordered = ordered[ids.index(after) + 1 :] if after in ids else []
            page = ordered[:limit]
            for b in page:
                self.state._advance(b)
            data = [b.to_json() for b in page]
        return json_response(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(ordered) > limit,
            }
        )

    async def get_batch(self, request: Request) -> Response:
        rec = self.state.get_batch(request.path_params["batch_id"])
        if rec is None:
            return openai_error(404, f"No batch found with id '{request.path_params['batch_id']}'.")
        return json_response(rec.to_json())

    async def cancel_batch(self, request: Request) -> Response:
        rec = self.state.get_batch(request.path_params["batch_id"])
        if rec is None:
            return openai_error(404, f"No batch found with id '{request.path_params['batch_id']}'.")
        if rec.status in TERMINAL:
            return openai_error(
                400,
                f"Cannot cancel a batch with status '{rec.status}'.",
                code="invalid_batch_status",
            )
        self.state.cancel_batch(rec)
        return json_response(rec.to_json())

    # -- synchronous endpoints (the online path) ----------------------------------------------

    async def sync_call(self, request: Request) -> Response:
        """The synchronous endpoints, answering at once with the same deterministic responses."""
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return openai_error(400, "We could not parse the JSON body of your request.")
        self.state.sync_calls += 1
        marker = self.state.reject_marker
        if marker and marker.encode() in orjson.dumps(body):
            return openai_error(
                400,
                "This request was rejected (emulated per-request error).",
                code="emulated_error",
            )
        try:
            return json_response(
                answer(
                    self.sync_endpoint(request),
                    body,
                    request_no=self.state.sync_calls,
                    created=int(self.state.clock.now()),
                )
            )
        except BodyError as exc:
            return json_response(exc.body, exc.status)

    # -- control -------------------------------------------------------------------------------

    async def control_advance(self, request: Request) -> Response:
        seconds = float(orjson.loads(await request.body()).get("seconds", 0))
        clock = self.state.clock
        if not isinstance(clock, ManualClock):
            return openai_error(
                400, "this emulator runs on the wall clock; start it with a manual clock"
            )
        return json_response({"now": clock.advance(seconds)})

    async def control_faults(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        if body.get("clear"):
            self.faults.clear()
            return json_response({"cleared": True})
        rule = self.faults.add(
            body["route"],
            body["kind"],
            times=int(body.get("times", 1)),
            retry_after=body.get("retry_after"),
        )
        return json_response({"route": rule.route, "kind": rule.kind, "times": rule.times})

    async def control_errors(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.state.error_ids.update(body.get("custom_ids", []))
        if "per_request_s" in body:
            self.state.next_per_request_s = float(body["per_request_s"])
        if "max_enqueued_tokens" in body:
            self.state.max_enqueued_tokens = body["max_enqueued_tokens"]
        return json_response({"error_ids": sorted(self.state.error_ids)})


#: The ``create_emulator`` options that go to :class:`EmulatorState`.
STATE_OPTIONS = (
    "validate_s",
    "finalize_s",
    "cancel_s",
    "per_request_s",
    "window_s",
    "max_requests",
    "max_file_bytes",
    "max_upload_bytes",
    "api_key",
    "workdir",
    "max_enqueued_tokens",
    "webhook_url",
    "webhook_secret",
)


def create_app(options: dict[str, Any] | None = None) -> OpenAIEmulator:
    """Build the emulator. Options: ``speed`` (wall clock x speed; default: a manual clock),
    ``api_key`` (require this key), ``webhook_url`` and ``webhook_secret`` (push signed batch
    events there), and any :class:`EmulatorState` timing or limit argument."""
    return OpenAIEmulator(EmulatorState(**state_options(options, STATE_OPTIONS)))
