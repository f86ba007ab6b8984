"""Together AI's Batch API through the official ``together`` SDK (entry point ``together``).

Together's batch API resembles OpenAI's but differs where it matters: input lines are
``{"custom_id", "body"}`` (the model in the body; custom_ids up to 64 characters), files are
uploaded in three steps (the SDK's ``files.upload``: a signed URL, the bytes, a preprocess call),
a job reports a ``progress`` percentage instead of request counts, and jobs carry **no metadata**.
So a job lost in a crash is found by its input file: batch-router names the file it uploads after
the job's local id, and ``find_job`` adopts only a job whose input file has that exact name. The
SDK is imported on the first call.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from batch_router_core.formats.openai_batch.calls import answer, call_bodies
from batch_router_core.formats.openai_batch.provider import unaccounted, window_hours
from batch_router_core.formats.openai_batch.requests import (
    batch_lines,
    endpoint_for,
)
from batch_router_core.formats.openai_batch.results import parse_line
from batch_router_core.plugin import (
    BatchHandle,
    BatchMode,
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

map_errors = ERRORS.map


def together_line(line: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI batch line as Together's: ``{"custom_id", "body"}`` (the model stays in the
    body)."""
    return {"custom_id": line["custom_id"], "body": line["body"]}


def _client(context: ProviderContext) -> Any:
    """An ``AsyncTogether`` client for these options, one per event loop (SDK retries off)."""
    opts = context.options
    key = (opts.get("api_key"), opts.get("base_url"), opts.get("timeout"))

    def build() -> Any:
        from together import AsyncTogether

        kwargs = {k: v for k, v in zip(("api_key", "base_url"), key[:2], strict=True) if v}
        with map_errors("client"):
            return AsyncTogether(max_retries=0, timeout=float(key[2] or 600), **kwargs)

    return per_loop(("together", *key), build)


def _window(context: ProviderContext) -> str:
    """The job's completion window: the ``completion_window`` option, else the setting; hours or
    days (Together documents no range: only the form is checked here)."""
    window = str(
        context.options.get("completion_window")
        or context.info.settings.get("completion_window", "24h")
    )
    if window_hours(window) is None:
        raise ValidationError(
            f"together takes a completion window in hours or days (24h, 2d), got {window!r}",
            provider="together",
            field="completion_window",
        )
    return window


def _upload_name(context: ProviderContext, local_id: str) -> str:
    """The name of the input file batch-router uploads for ``local_id``: the job's identity."""
    return context.files.path("together", local_id, "input").name


@hookimpl
def provider_info() -> ProviderInfo:
    """Declared in ``defaults.yaml``."""
    return load_provider_defaults("batch_router_together", "defaults.yaml")


@hookimpl
def check_credentials(context: ProviderContext) -> str | None:
    """A key from ``--option api_key`` or ``TOGETHER_API_KEY``."""
    if context.options.get("api_key") or os.environ.get("TOGETHER_API_KEY"):
        return None
    return "no API key: set TOGETHER_API_KEY, or pass --option api_key=... (api_key=... in code)"


@hookimpl
def prepare_payloads(batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
    """Unified batch -> Together batch lines (lazily)."""
    endpoint = endpoint_for(batch.configured_params)
    _window(context)  # refused before anything is written or sent
    lines = batch_lines(batch, context.info.settings, provider="together", shape=together_line)
    return PreparedPayloads(
        provider="together",
        model=batch.model,
        mode=batch.mode,
        lines=lines,
        metadata={"endpoint": endpoint},
    )


async def _files_named(client: Any, name: str) -> AsyncIterator[str]:
    """The ids of the files called ``name``."""
    with map_errors("files.list"):
        listed = await client.files.list()
    for f in listed.data:
        if f.filename == name:
            yield f.id


def _deleter(client: Any) -> Callable[[str], Awaitable[None]]:
    async def delete(file_id: str) -> None:
        with map_errors("files.delete", file_id=file_id):
            await client.files.delete(file_id)

    return delete


async def _discard_uploads_named(
    client: Any, name: str, context: ProviderContext, *, strict: bool = False
) -> None:
    """Delete files called ``name`` (see :func:`~batch_router_core.plugin.discard_uploads`: an
    upload whose answer was lost)."""
    await discard_uploads(
        name, lambda: _files_named(client, name), _deleter(client), context.logger, strict=strict
    )


def _handle(job: Any, local_id: str, count: int, data: dict[str, Any]) -> BatchHandle:
    return BatchHandle(
        provider="together",
        batch_id=str(job.id),
        local_id=local_id,
        model=job.x_model_id or "",
        mode=BatchMode.CHAT,
        request_count=count,
        submitted_at=job.created_at,
        data={"endpoint": job.endpoint, "input_file_id": job.input_file_id, **data},
    )


@hookimpl
async def submit(prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
    """Upload the input file (purpose ``batch-api``, the SDK's three steps) and create the job; a
    lost upload is found by its name and deleted, a lost create by its input file's name."""
    client = _client(context)
    name = prepared.path.name
    if prepared.resubmission:
        await _discard_uploads_named(client, name, context, strict=True)
    try:
        with map_errors("files.upload"):
            uploaded = await client.files.upload(prepared.path, purpose="batch-api")
    except ProviderError as exc:
        if not is_refusal(exc):
            await _discard_uploads_named(client, name, context)
        raise
    crash_point("after_upload")

    async def create() -> BatchHandle:
        with map_errors("batches.create"):
            created = await client.batches.create(
                endpoint=prepared.metadata["endpoint"],
                input_file_id=uploaded.id,
                model_id=prepared.model,
                completion_window=_window(context),
            )
        if created.warning:
            context.logger.warning("together_batch_warning", warning=created.warning)
        data = {"input_path": str(prepared.path)}
        return _handle(created.job, prepared.local_id, prepared.request_count, data)

    async def discard() -> None:
        await _deleter(client)(uploaded.id)

    return await create_from_upload(
        create,
        lookup=lambda: find_job(local_id=prepared.local_id, context=context),
        discard=discard,
        log=context.logger.bind(local_id=prepared.local_id),
    )


def _report(job: Any, handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    status = context.normalize_status(str(job.status))
    total = handle.request_count
    # Together reports a percentage, not counts: while a job runs, what has finished is derived
    # from it; the results say which requests succeeded.
    done = min(total, round(total * float(job.progress or 0) / 100))
    ended: datetime | None = job.completed_at if status.is_terminal else None
    return BatchStatusReport(
        provider="together",
        batch_id=str(job.id),
        status=status,
        raw_status=str(job.status),
        request_counts=RequestCounts(
            total=total, succeeded=done, processing=0 if status.is_terminal else total - done
        ),
        created_at=job.created_at,
        ended_at=ended,
        expires_at=job.job_deadline,
        error=job.error or None,
        raw=job.model_dump(mode="json", by_alias=True),
    )


@hookimpl
async def poll_status(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Retrieve the job and normalise its status through the YAML map."""
    with map_errors("batches.retrieve", batch_id=handle.batch_id):
        job = await _client(context).batches.retrieve(handle.batch_id)
    return _report(job, handle, context)


@hookimpl
async def cancel(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Ask Together to cancel the job."""
    with map_errors("batches.cancel", batch_id=handle.batch_id):
        job = await _client(context).batches.cancel(handle.batch_id)
    return _report(job, handle, context)


@hookimpl
async def delete_job(handle: BatchHandle, context: ProviderContext) -> bool:
    """Delete the job's input, output and error files (a job itself cannot be deleted); a file
    already gone counts as deleted."""
    client = _client(context)
    with map_errors("batches.retrieve", batch_id=handle.batch_id):
        job = await client.batches.retrieve(handle.batch_id)
    ids = (job.input_file_id, job.output_file_id, job.error_file_id)
    await delete_files(ids, _deleter(client))
    return True


async def _lines(client: Any, file_id: str) -> AsyncIterator[dict[str, Any]]:
    """Stream a file's JSONL content, line by line."""
    with map_errors("files.content", file_id=file_id):
        async with client.files.with_streaming_response.content(file_id) as response:
            async for line in iter_jsonl_chunks(response.iter_bytes(1 << 16)):
                yield line


@hookimpl
async def fetch_results(
    handle: BatchHandle, context: ProviderContext
) -> AsyncIterator[RequestResult]:
    """Stream the output file, then the error file; account for requests in neither. Together
    gives no counts to prove a file complete, so the ids seen are always remembered."""
    client = _client(context)
    with map_errors("batches.retrieve", batch_id=handle.batch_id):
        job = await client.batches.retrieve(handle.batch_id)
    status = context.normalize_status(str(job.status))
    if not status.is_terminal:
        raise ProviderPermanentError(
            f"job {job.id} has not ended ({job.status})", provider="together", batch_id=job.id
        )
    seen: set[str] = set()
    for file_id in (job.output_file_id, job.error_file_id):
        if file_id:
            async for line in _lines(client, file_id):
                result = parse_line(line, handle.model, provider="together")
                seen.add(result.custom_id)
                yield result
    local = context.submitted_custom_ids(handle)
    ids = (
        local
        if local is not None
        else (line["custom_id"] async for line in _lines(client, handle.data["input_file_id"]))
    )
    async for result in unaccounted(
        ids, seen, status, provider="together", model=handle.model, failure=job.error
    ):
        yield result


@hookimpl
async def find_job(local_id: str, context: ProviderContext) -> BatchHandle | None:
    """The job whose input file is the one batch-router uploaded for ``local_id`` (by its exact
    name: Together's jobs carry no metadata), newest first."""
    client = _client(context)
    ours = {f async for f in _files_named(client, _upload_name(context, local_id))}
    if not ours:
        return None
    with map_errors("batches.list"):
        jobs = await client.batches.list()
    for job in sorted(jobs, key=lambda j: j.created_at or datetime.min, reverse=True):
        if job.input_file_id in ours:
            # The count is the number of lines of the input file batch-router wrote.
            path = context.files.path("together", local_id, "input")
            count = sum(1 for _ in path.open("rb")) if path.is_file() else 0
            return _handle(job, local_id, count, {})
    return None


@hookimpl
async def execute_now(
    requests: list[InputRequest], params: InferenceParams, context: ProviderContext
) -> list[RequestResult]:
    """Run a small group now: concurrent chat completions with the batch lines' bodies."""
    client = _client(context)
    endpoint = endpoint_for(params)
    model = str(params.model_id)
    body_of = call_bodies(params, endpoint, context.info.settings)

    async def one(req: InputRequest) -> RequestResult:
        try:
            with map_errors("chat.completions"):
                body = await client.post(endpoint, body=body_of(req), cast_to=object)
        except ProviderPermanentError as exc:
            return result_for_error(req.custom_id, exc, provider="together", model=model)
        return answer(req.custom_id, body, model, "together")

    return list(await asyncio.gather(*(one(r) for r in requests)))


@hookimpl
def create_emulator(options: Mapping[str, Any]) -> Any:
    """The local Together batch API emulator (an ASGI app)."""
    from .emulator import create_app

    return create_app(dict(options))
