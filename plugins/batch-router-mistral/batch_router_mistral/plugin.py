"""Mistral AI's Batch API through the official ``mistralai`` SDK (entry point ``mistral``).

Mistral's batch API is its own: input files of ``{"custom_id", "body"}`` lines (the job names the
endpoint and the model), ``POST /v1/batch/jobs`` with ``input_files``, ``endpoint``, ``model``,
``metadata`` and ``timeout_hours``, and the statuses QUEUED, RUNNING, SUCCESS, FAILED,
TIMEOUT_EXCEEDED, CANCELLATION_REQUESTED and CANCELLED (mapped in ``defaults.yaml``). The bodies
are OpenAI's chat and embedding bodies with Mistral's names (``random_seed``,
``output_dimension``), built by core's OpenAI line writer, and the output and error files hold
OpenAI-shaped lines, read by its parser. The SDK is imported on the first call.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from batch_router_core.formats.openai_batch.calls import answer, call_bodies, embedding_answers
from batch_router_core.formats.openai_batch.provider import unaccounted
from batch_router_core.formats.openai_batch.requests import (
    EMBEDDINGS,
    batch_lines,
    endpoint_for,
    request_payload,
)
from batch_router_core.formats.openai_batch.results import parse_line
from batch_router_core.plugin import (
    BatchHandle,
    BatchMode,
    BatchStatus,
    BatchStatusReport,
    InferenceParams,
    InputBatch,
    InputRequest,
    PreparedBatch,
    PreparedPayloads,
    ProviderContext,
    ProviderError,
    ProviderInfo,
    ProviderPermanentError,
    RequestCounts,
    RequestResult,
    ValidationError,
    crash_point,
    create_from_upload,
    delete_files,
    discard_uploads,
    hookimpl,
    is_refusal,
    load_provider_defaults,
    per_loop,
    result_for_error,
)
from batch_router_core.plugin.fastjson import iter_jsonl_chunks

from .errors import ERRORS

#: Metadata key tagging every job with batch-router's local id (found again after a crash).
TAG_KEY = "batch_router_local_id"
#: OpenAI's body names -> Mistral's.
_RENAMED = {"seed": "random_seed", "dimensions": "output_dimension"}
map_errors = ERRORS.map


def mistral_line(line: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI batch line as Mistral's: ``{"custom_id", "body"}``, the model left to the job,
    Mistral's field names."""
    body = {_RENAMED.get(k, k): v for k, v in line["body"].items() if k != "model"}
    return {"custom_id": line["custom_id"], "body": body}


def _client(context: ProviderContext) -> Any:
    """A ``Mistral`` client for these options, one per event loop (the SDK's own retries off)."""
    opts = context.options
    key = (opts.get("api_key"), opts.get("base_url"), opts.get("timeout"))

    def build() -> Any:
        from mistralai.client import Mistral

        with map_errors("client"):
            return Mistral(
                api_key=key[0] or os.environ.get("MISTRAL_API_KEY"),
                server_url=key[1] or None,
                timeout_ms=int(float(key[2] or 600) * 1000),
            )

    return per_loop(("mistral", *key), build)


def _dt(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts else None


def _timeout_hours(context: ProviderContext) -> int:
    """The job's timeout: the ``timeout_hours`` option, else the setting; within Mistral's
    range."""
    settings = context.info.settings
    raw = context.options.get("timeout_hours") or settings.get("timeout_hours", 24)
    low, high = settings.get("timeout_hours_range", (1, 168))
    try:
        hours = int(raw)
    except (TypeError, ValueError):
        hours = -1
    if str(hours) != str(raw).strip() or not int(low) <= hours <= int(high):
        raise ValidationError(
            f"mistral takes timeout_hours from {low} to {high} (whole hours), got {raw!r}",
            provider="mistral",
            field="timeout_hours",
        )
    return hours


@hookimpl
def provider_info() -> ProviderInfo:
    """Declared in ``defaults.yaml``."""
    return load_provider_defaults("batch_router_mistral", "defaults.yaml")


@hookimpl
def check_credentials(context: ProviderContext) -> str | None:
    """A key from ``--option api_key`` or ``MISTRAL_API_KEY``."""
    if context.options.get("api_key") or os.environ.get("MISTRAL_API_KEY"):
        return None
    return "no API key: set MISTRAL_API_KEY, or pass --option api_key=... (api_key=... in code)"


@hookimpl
def prepare_payloads(batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
    """Unified batch -> Mistral batch lines (lazily); the timeout is checked before anything is
    written."""
    endpoint = endpoint_for(batch.configured_params)
    _timeout_hours(context)
    return PreparedPayloads(
        provider="mistral",
        model=batch.model,
        mode=batch.mode,
        lines=batch_lines(batch, context.info.settings, provider="mistral", shape=mistral_line),
        metadata={"endpoint": endpoint},
    )


async def _discard_uploads_named(
    client: Any, name: str, context: ProviderContext, *, strict: bool = False
) -> None:
    """Delete batch files called ``name`` (see :func:`~batch_router_core.plugin.discard_uploads`:
    an upload whose answer was lost)."""

    async def found() -> AsyncIterator[str]:
        with map_errors("files.list"):
            listed = await client.files.list_async(purpose="batch", search=name, page_size=100)
        for f in listed.data:
            if f.filename == name:
                yield f.id

    async def delete(file_id: str) -> None:
        with map_errors("files.delete", file_id=file_id):
            await client.files.delete_async(file_id=file_id)

    await discard_uploads(name, found, delete, context.logger, strict=strict)


def _handle(
    job: Any, local_id: str, data: dict[str, Any], request_count: int | None = None
) -> BatchHandle:
    return BatchHandle(
        provider="mistral",
        batch_id=job.id,
        local_id=local_id,
        model=job.model or "",
        mode=BatchMode.EMBEDDING if job.endpoint == EMBEDDINGS else BatchMode.CHAT,
        request_count=job.total_requests if request_count is None else request_count,
        submitted_at=_dt(job.created_at),
        data={"endpoint": job.endpoint, "input_file_id": job.input_files[0], **data},
    )


@hookimpl
async def submit(prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
    """Upload the input file (purpose ``batch``) and create the job on it, tagged with the local
    id; a lost upload is found by name and deleted, a lost create by its tag."""
    client = _client(context)
    hours = _timeout_hours(context)
    if prepared.resubmission:
        await _discard_uploads_named(client, prepared.path.name, context, strict=True)
    try:
        with map_errors("files.upload"):
            with prepared.path.open("rb") as fh:
                uploaded = await client.files.upload_async(
                    file={"file_name": prepared.path.name, "content": fh}, purpose="batch"
                )
    except ProviderError as exc:
        if not is_refusal(exc):
            await _discard_uploads_named(client, prepared.path.name, context)
        raise
    crash_point("after_upload")

    async def create() -> BatchHandle:
        with map_errors("batch.jobs.create"):
            job = await client.batch.jobs.create_async(
                input_files=[uploaded.id],
                endpoint=prepared.metadata["endpoint"],
                model=prepared.model,
                metadata={TAG_KEY: prepared.local_id},
                timeout_hours=hours,
            )
        data = {"input_path": str(prepared.path)}
        return _handle(job, prepared.local_id, data, prepared.request_count)

    async def discard() -> None:
        with map_errors("files.delete"):
            await client.files.delete_async(file_id=uploaded.id)

    return await create_from_upload(
        create,
        lookup=lambda: find_job(local_id=prepared.local_id, context=context),
        discard=discard,
        log=context.logger.bind(local_id=prepared.local_id),
    )


def _report(job: Any, context: ProviderContext) -> BatchStatusReport:
    status = context.normalize_status(job.status)
    done, failed, total = job.succeeded_requests, job.failed_requests, job.total_requests
    errors = "; ".join(
        f"{e.message} (x{e.count})" if (e.count or 1) > 1 else e.message for e in job.errors[:20]
    )
    return BatchStatusReport(
        provider="mistral",
        batch_id=job.id,
        status=status,
        raw_status=job.status,
        request_counts=RequestCounts(
            total=total,
            succeeded=done,
            errored=failed,
            processing=0 if status.is_terminal else max(0, total - done - failed),
        ),
        created_at=_dt(job.created_at),
        started_at=_dt(job.started_at),
        ended_at=_dt(job.completed_at) if status.is_terminal else None,
        error=errors or None,
        raw=job.model_dump(mode="json", by_alias=True),
    )


@hookimpl
async def poll_status(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Get the job and normalise its status through the YAML map."""
    with map_errors("batch.jobs.get", batch_id=handle.batch_id):
        job = await _client(context).batch.jobs.get_async(job_id=handle.batch_id)
    return _report(job, context)


@hookimpl
async def cancel(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Ask Mistral to cancel (CANCELLATION_REQUESTED, then CANCELLED)."""
    with map_errors("batch.jobs.cancel", batch_id=handle.batch_id):
        job = await _client(context).batch.jobs.cancel_async(job_id=handle.batch_id)
    return _report(job, context)


@hookimpl
async def delete_job(handle: BatchHandle, context: ProviderContext) -> bool:
    """Delete the job's input, output and error files (a job itself cannot be deleted); a file
    already gone counts as deleted."""
    client = _client(context)
    with map_errors("batch.jobs.get", batch_id=handle.batch_id):
        job = await client.batch.jobs.get_async(job_id=handle.batch_id)

    async def delete(file_id: str) -> None:
        with map_errors("files.delete", file_id=file_id):
            await client.files.delete_async(file_id=file_id)

    await delete_files((*job.input_files, job.output_file, job.error_file), delete)
    return True


async def _lines(client: Any, file_id: str) -> AsyncIterator[dict[str, Any]]:
    """Stream a file's JSONL content, line by line."""
    with map_errors("files.download", file_id=file_id):
        response = await client.files.download_async(file_id=file_id)
        try:
            async for line in iter_jsonl_chunks(response.aiter_bytes(1 << 16)):
                yield line
        finally:
            await response.aclose()


@hookimpl
async def fetch_results(
    handle: BatchHandle, context: ProviderContext
) -> AsyncIterator[RequestResult]:
    """Stream the output file, then the error file; account for requests in neither (cancelled,
    timed out, or a failed job)."""
    client = _client(context)
    with map_errors("batch.jobs.get", batch_id=handle.batch_id):
        job = await client.batch.jobs.get_async(job_id=handle.batch_id)
    status = context.normalize_status(job.status)
    if not status.is_terminal:
        raise ProviderPermanentError(
            f"job {job.id} has not ended ({job.status})", provider="mistral", batch_id=job.id
        )
    complete = (
        status is BatchStatus.COMPLETED
        and job.succeeded_requests + job.failed_requests >= handle.request_count
    )
    seen: set[str] = set()
    for file_id in (job.output_file, job.error_file):
        if file_id:
            async for line in _lines(client, file_id):
                result = parse_line(line, handle.model, provider="mistral")
                if not complete:
                    seen.add(result.custom_id)
                yield result
    if complete:
        return
    local = context.submitted_custom_ids(handle)
    ids = (
        local
        if local is not None
        else (line["custom_id"] async for line in _lines(client, handle.data["input_file_id"]))
    )
    failure = _report(job, context).error
    async for result in unaccounted(
        ids, seen, status, provider="mistral", model=handle.model, failure=failure
    ):
        yield result


@hookimpl
async def find_job(local_id: str, context: ProviderContext) -> BatchHandle | None:
    """Page through the jobs (newest first) for the one tagged ``local_id``."""
    client = _client(context)
    limit = context.info.limits.find_job_max_scan
    scanned, page = 0, 0
    while scanned < limit:
        with map_errors("batch.jobs.list"):
            listed = await client.batch.jobs.list_async(
                page=page, page_size=100, order_by="-created"
            )
        jobs = listed.data or []
        for job in jobs:
            if (job.metadata or {}).get(TAG_KEY) == local_id:
                return _handle(job, local_id, {})
        scanned += len(jobs)
        if len(jobs) < 100:
            return None
        page += 1
    return None


@hookimpl
async def execute_now(
    requests: list[InputRequest], params: InferenceParams, context: ProviderContext
) -> list[RequestResult]:
    """Run a small group now: one embeddings call for all inputs, concurrent chat calls
    otherwise (the same bodies as the batch lines)."""
    client = _client(context)
    endpoint = endpoint_for(params)
    model = str(params.model_id)
    body_of = call_bodies(params, endpoint, context.info.settings)

    def mistral_body(req: InputRequest) -> dict[str, Any]:
        body: dict[str, Any] = mistral_line({"custom_id": req.custom_id, "body": body_of(req)})[
            "body"
        ]
        return body

    if endpoint == EMBEDDINGS:
        texts = [request_payload(r, endpoint, None)["input"] for r in requests]
        options = {k: v for k, v in mistral_body(requests[0]).items() if k != "input"}
        with map_errors("embeddings.create"):
            resp = await client.embeddings.create_async(model=model, inputs=texts, **options)
        return embedding_answers(requests, texts, resp.model_dump(mode="json"), model, "mistral")

    async def one(req: InputRequest) -> RequestResult:
        try:
            with map_errors("chat.complete"):
                resp = await client.chat.complete_async(model=model, **mistral_body(req))
        except ProviderPermanentError as exc:
            return result_for_error(req.custom_id, exc, provider="mistral", model=model)
        return answer(req.custom_id, resp.model_dump(mode="json"), model, "mistral")

    return list(await asyncio.gather(*(one(r) for r in requests)))


@hookimpl
def create_emulator(options: Mapping[str, Any]) -> Any:
    """The local Mistral batch API emulator (an ASGI app)."""
    from .emulator import create_app

    return create_app(dict(options))
