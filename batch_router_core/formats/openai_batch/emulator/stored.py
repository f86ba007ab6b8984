"""Routes over an :class:`EmulatorState`'s files and answers, for emulators of batch APIs whose
objects differ from OpenAI's (Mistral's jobs, Together's) but whose jobs run on the same state."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from batch_router_core.formats.openai_batch.emulator.answers import BodyError, answer
from batch_router_core.formats.openai_batch.emulator.app import json_response
from batch_router_core.formats.openai_batch.emulator.state import EmulatorState, FileRecord

__all__ = ["StoredFileRoutes"]


class StoredFileRoutes:
    """``GET``/``DELETE /v1/files/{file_id}`` and ``GET .../content`` handlers, and synchronous
    answers. The emulator says how a file looks (:meth:`file_json`) and how "not found" does
    (:meth:`missing`)."""

    state: EmulatorState

    def file_json(self, rec: FileRecord) -> dict[str, Any]:
        """The provider's file object."""
        raise NotImplementedError

    def missing(self, what: str) -> Response:
        """The provider's 404 for ``what`` (a file, a job)."""
        raise NotImplementedError

    async def get_file(self, request: Request) -> Response:
        rec = self.state.files.get(request.path_params["file_id"])
        if rec is None:
            return self.missing("File")
        return json_response(self.file_json(rec))

    async def delete_file(self, request: Request) -> Response:
        with self.state.lock:
            rec = self.state.files.pop(request.path_params["file_id"], None)
        if rec is None:
            return self.missing("File")
        rec.path.unlink(missing_ok=True)
        return json_response({"id": rec.id, "object": "file", "deleted": True})

    async def file_content(self, request: Request) -> Response:
        rec = self.state.files.get(request.path_params["file_id"])
        if rec is None:
            return self.missing("File")
        return Response(rec.path.read_bytes(), media_type="application/octet-stream")

    def sync_answer(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any] | Response:
        """A synchronous call's answer (the batch's deterministic answer for ``endpoint``, an
        OpenAI endpoint), or the error response."""
        self.state.sync_calls += 1
        try:
            return answer(
                endpoint,
                body,
                request_no=self.state.sync_calls,
                created=int(self.state.clock.now()),
            )
        except BodyError as exc:
            return json_response(exc.body, exc.status)
