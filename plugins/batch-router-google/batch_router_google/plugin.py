"""The Google GenAI provider's hook implementations (entry point ``google``).

Creating jobs, uploading files, cancelling and deleting go through the official ``google-genai`` SDK
(imported on first use). Reading a batch and its results goes straight to the REST resource with
httpx2 (the SDK's own HTTP client): the SDK drops ``batchStats`` and the batch error, and its file
download loads a whole results file into memory, where this streams it.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

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
    RequestError,
    RequestResult,
    ResultStatus,
    SdkErrorMap,
    WebhookEvent,
    WebhookRejectedError,
    cleanup_pending,
    crash_point,
    create_from_upload,
    error_for_status,
    hookimpl,
    iter_jsonl,
    load_provider_defaults,
    per_loop,
    result_for_error,
    verify_standard_webhook,
)
from batch_router_core.plugin.fastjson import iter_jsonl_chunks

from .convert import batch_lines
from .parse import parse_item

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


# -- connection settings -------------------------------------------------------------------------


def _settings(context: ProviderContext) -> tuple[str | None, str, str]:
    """(api key, base URL, API version) from options, else the SDK's environment variables."""
    key = (
        context.option("api_key")
        or os.environ.get("GOOGLE_API_KEY")
        or os.environ.get("GEMINI_API_KEY")
    )
    base = (
        context.option("base_url") or os.environ.get("GOOGLE_GEMINI_BASE_URL") or DEFAULT_BASE_URL
    )
    version = str(
        context.option("api_version") or context.info.settings.get("api_version", "v1beta")
    )
    return key, str(base).rstrip("/"), version


def _cached(context: ProviderContext, kind: str, build: Any) -> Any:
    return per_loop(("google", kind, *_settings(context)), build)


def _sdk(context: ProviderContext) -> Any:
    """The SDK's async client (``Client(...).aio``)."""

    def build() -> Any:
        from google import genai
        from google.genai import types

        key, base, version = _settings(context)
        return genai.Client(
            api_key=key, http_options=types.HttpOptions(base_url=base, api_version=version)
        ).aio

    return _cached(context, "sdk", build)


def _http(context: ProviderContext) -> Any:
    """An httpx2 client for the REST resources."""

    def build() -> Any:
        import httpx2

        key, base, _ = _settings(context)
        return httpx2.AsyncClient(
            base_url=base,
            headers={"x-goog-api-key": key or ""},
            timeout=float(context.option("timeout", 600)),
        )

    return _cached(context, "http", build)


def _error_classes() -> dict[str, tuple[type[BaseException], ...]]:
    from google.genai import errors as genai_errors

    # APIError carries the HTTP status in ``code`` (and the gRPC-style name in ``status``).
    return {"status": (genai_errors.APIError,), "permanent": (genai_errors.APIError,)}


#: google-genai and httpx/aiohttp errors -> the core error tree; nothing from ``google.genai``
#: escapes.
ERRORS = SdkErrorMap("google", _error_classes)
map_errors = ERRORS.map


async def _request_json(
    context: ProviderContext, method: str, path: str, operation: str, body: Any = None, **ids: Any
) -> Any:
    """One REST call (GET, or POST with a JSON body) answered with JSON; errors mapped."""
    _, _, version = _settings(context)
    with map_errors(operation, **ids):
        if body is None:
            response = await _http(context).request(method, f"/{version}/{path}")
        else:
            response = await _http(context).request(
                method,
                f"/{version}/{path}",
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
            )
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except Exception:  # noqa: BLE001 - any non-JSON error body
            message = response.text[:200]
        raise error_for_status(
            response.status_code,
            f"{operation}: {message}",
            provider="google",
            headers=response.headers,
            batch_id=ids.get("batch_id"),
        )
    return response.json()


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if "." in text:  # nanoseconds -> microseconds, which fromisoformat takes
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    return datetime.fromisoformat(text)


# -- hooks ---------------------------------------------------------------------------------------


@hookimpl
def provider_info() -> ProviderInfo:
    """Declared in ``defaults.yaml``."""
    return load_provider_defaults("batch_router_google", "defaults.yaml")


@hookimpl
def check_credentials(context: ProviderContext) -> str | None:
    """A key from ``--option api_key`` or ``GOOGLE_API_KEY`` / ``GEMINI_API_KEY``."""
    if _settings(context)[0]:
        return None
    return "no API key: set GOOGLE_API_KEY (or GEMINI_API_KEY), or pass --option api_key=..."


@hookimpl
def prepare_payloads(batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
    """Unified batch -> ``{"key", "request"}`` lines (lazily)."""
    return PreparedPayloads(
        provider="google", model=batch.model, mode=batch.mode, lines=batch_lines(batch)
    )


def _inline(line: dict[str, Any]) -> dict[str, Any]:
    """A file line as the SDK's InlinedRequest: sampling fields and the rest go in ``config``."""
    request = dict(line["request"])
    contents = request.pop("contents")
    config = dict(request.pop("generation_config", {}))
    config.update(request)  # system_instruction, tools, safety_settings...
    return {"contents": contents, "config": config, "metadata": {"key": line["key"]}}


def _input_mode(prepared: PreparedBatch, context: ProviderContext) -> str:
    if prepared.mode is BatchMode.EMBEDDING:
        return "file"
    mode = str(context.option("mode") or context.info.settings.get("mode", "auto"))
    if mode in ("inline", "file"):
        return mode
    return (
        "inline"
        if prepared.byte_size <= int(context.info.settings.get("inline_max_bytes", 1 << 20))
        else "file"
    )


@hookimpl
async def submit(prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
    """Create the batch, inline or from an uploaded JSONL file; tagged by display name."""
    sdk = _sdk(context)
    mode = _input_mode(prepared, context)
    config = {"display_name": prepared.local_id}
    if mode == "inline":
        src: Any = [_inline(orjson.loads(line)) for line in prepared.iter_lines()]
    else:
        if (
            prepared.resubmission
        ):  # an earlier attempt may have uploaded the file before it was lost
            await _discard_uploads_named(prepared.local_id, context)
        with map_errors("files.upload"):
            uploaded = await sdk.files.upload(
                file=str(prepared.path),
                config={"mime_type": "jsonl", "display_name": prepared.local_id},
            )
        crash_point("after_upload")
        src = uploaded.name

    async def create() -> BatchHandle:
        with map_errors("batches.create"):
            if prepared.mode is BatchMode.EMBEDDING:
                with (
                    warnings.catch_warnings()
                ):  # the SDK marks this call experimental; it is the only one
                    warnings.simplefilter("ignore")
                    job = await sdk.batches.create_embeddings(
                        model=prepared.model, src={"file_name": src}, config=config
                    )
            else:
                job = await sdk.batches.create(model=prepared.model, src=src, config=config)
        return BatchHandle(
            provider="google",
            batch_id=job.name,
            local_id=prepared.local_id,
            model=prepared.model,
            mode=prepared.mode,
            request_count=prepared.request_count,
            submitted_at=job.create_time,
            data={"input_mode": mode, "input_path": str(prepared.path)},
        )

    async def discard() -> None:
        if mode != "inline":
            with map_errors("files.delete"):
                await sdk.files.delete(name=src)

    return await create_from_upload(
        create,
        lookup=lambda: find_job(
            local_id=prepared.local_id, request_count=prepared.request_count, context=context
        ),
        discard=discard,
        log=context.logger.bind(local_id=prepared.local_id),
    )


async def _discard_uploads_named(display_name: str, context: ProviderContext) -> None:
    """Delete uploaded files called ``display_name`` (an earlier attempt's upload whose answer was
    lost);
    a failure is retried by core as a resubmission, never read as a refused create."""
    token = None
    try:
        while True:
            page = await _request_json(
                context,
                "GET",
                "files?pageSize=100" + (f"&pageToken={token}" if token else ""),
                "files.list",
            )
            for f in page.get("files") or []:
                if f.get("displayName") == display_name:
                    await _request_json(context, "DELETE", str(f["name"]), "files.delete")
            token = page.get("nextPageToken")
            if not token:
                return
    except ProviderError as exc:
        raise cleanup_pending(exc, f"an earlier upload of {display_name}") from exc


def _report(op: dict[str, Any], context: ProviderContext) -> BatchStatusReport:
    meta = op.get("metadata") or {}
    raw = str(meta.get("state") or "BATCH_STATE_UNSPECIFIED")
    stats = meta.get("batchStats") or meta.get("batch_stats") or {}

    def stat(*names: str) -> int:
        for n in names:
            if n in stats:
                return int(stats[n])
        return 0

    total = stat("requestCount", "request_count")
    ok = stat("successfulRequestCount", "successful_request_count")
    failed = stat("failedRequestCount", "failed_request_count")
    pending = stat("pendingRequestCount", "pending_request_count")
    status = context.normalize_status(raw)
    error = op.get("error")
    return BatchStatusReport(
        provider="google",
        batch_id=str(op.get("name") or meta.get("name")),
        status=status,
        raw_status=raw,
        request_counts=RequestCounts(
            total=total,
            succeeded=ok,
            errored=failed,
            processing=0 if status.is_terminal else (pending or max(0, total - ok - failed)),
            expired=total if status is BatchStatus.EXPIRED else 0,
            cancelled=max(0, total - ok - failed) if status is BatchStatus.CANCELLED else 0,
        ),
        created_at=_dt(meta.get("createTime")),
        ended_at=_dt(meta.get("endTime")),
        error=(error or {}).get("message") if error else None,
        raw=op,
    )


@hookimpl
async def poll_status(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Read the REST batch resource (state, batchStats, error)."""
    op = await _request_json(
        context, "GET", handle.batch_id, "batches.get", batch_id=handle.batch_id
    )
    return _report(op, context)


@hookimpl
async def cancel(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Cancel the batch, then report its state."""
    with map_errors("batches.cancel", batch_id=handle.batch_id):
        await _sdk(context).batches.cancel(name=handle.batch_id)
    return await poll_status(handle, context)


@hookimpl
async def delete_job(handle: BatchHandle, context: ProviderContext) -> bool:
    """Delete the batch resource."""
    with map_errors("batches.delete", batch_id=handle.batch_id):
        await _sdk(context).batches.delete(name=handle.batch_id)
    return True


def _input_keys(handle: BatchHandle) -> list[str]:
    path = Path(handle.data.get("input_path", ""))
    if not path.is_file():
        return []
    return [line["key"] for _, line in iter_jsonl(path)]


async def _file_lines(context: ProviderContext, file_name: str) -> AsyncIterator[dict[str, Any]]:
    _, _, version = _settings(context)
    file_id = file_name.split("/", 1)[-1]
    with map_errors("files.download", file=file_name):
        async with _http(context).stream(
            "GET", f"/{version}/files/{file_id}:download", params={"alt": "media"}
        ) as response:
            if response.status_code != 200:
                await response.aread()
                raise error_for_status(
                    response.status_code,
                    f"files.download: HTTP {response.status_code}",
                    provider="google",
                    headers=response.headers,
                )
            async for line in iter_jsonl_chunks(response.aiter_bytes(1 << 16)):
                yield line


@hookimpl
async def fetch_results(
    handle: BatchHandle, context: ProviderContext
) -> AsyncIterator[RequestResult]:
    """Results from the responses file or the inline responses; one per request in every state."""
    op = await _request_json(
        context, "GET", handle.batch_id, "batches.get", batch_id=handle.batch_id
    )
    report = _report(op, context)
    if not report.is_terminal:
        raise ProviderPermanentError(
            f"batch {handle.batch_id} has not ended ({report.raw_status})",
            provider="google",
            batch_id=handle.batch_id,
        )
    keys = _input_keys(handle)
    output = (op.get("metadata") or {}).get("output") or (op.get("response") or {})
    responses_file = output.get("responsesFile") or output.get("responses_file")
    inlined = output.get("inlinedResponses") or output.get("inlined_responses") or {}
    inlined = inlined.get("inlinedResponses") or inlined.get("inlined_responses") or []
    if report.status is BatchStatus.COMPLETED and responses_file:
        i = 0
        async for line in _file_lines(context, responses_file):
            # Lines keep input order; a line without a key is matched by position.
            yield parse_item(line.get("key") or keys[i], line, handle.model)
            i += 1
        return
    if report.status is BatchStatus.COMPLETED and inlined:
        for i, item in enumerate(inlined):
            key = (item.get("metadata") or {}).get("key") or keys[i]
            yield parse_item(key, item, handle.model)
        return
    status, code, message = {
        BatchStatus.EXPIRED: (
            ResultStatus.EXPIRED,
            "batch_expired",
            "The batch expired (48 h) before this request ran; Gemini returns no results.",
        ),
        BatchStatus.CANCELLED: (
            ResultStatus.CANCELLED,
            "batch_cancelled",
            "The batch was cancelled.",
        ),
    }.get(
        report.status, (ResultStatus.ERRORED, "batch_failed", report.error or "The batch failed.")
    )
    for key in keys:
        yield RequestResult(
            custom_id=key,
            status=status,
            provider="google",
            model=handle.model,
            error=RequestError(message=message, code=code),
        )


@hookimpl
async def execute_now(
    requests: list[InputRequest], params: InferenceParams, context: ProviderContext
) -> list[RequestResult]:
    """Run a small group now: one ``:batchEmbedContents`` call for embeddings, concurrent
    ``:generateContent`` calls otherwise."""
    from .convert import _request, _request_base

    model = str(params.model_id).removeprefix("models/")
    base = _request_base(params, None)
    if params.mode is BatchMode.EMBEDDING:
        bodies = [{"model": f"models/{model}", **_request(r, params.mode, base)} for r in requests]
        resp = await _request_json(
            context,
            "POST",
            f"models/{model}:batchEmbedContents",
            "models.batchEmbedContents",
            {"requests": bodies},
        )
        return [
            parse_item(r.custom_id, {"response": {"embedding": e}}, model)
            for r, e in zip(requests, resp["embeddings"], strict=True)
        ]

    async def one(req: InputRequest) -> RequestResult:
        try:
            resp = await _request_json(
                context,
                "POST",
                f"models/{model}:generateContent",
                "models.generateContent",
                _request(req, params.mode, base),
            )
        except ProviderPermanentError as exc:
            return result_for_error(req.custom_id, exc, provider="google", model=model)
        return parse_item(req.custom_id, {"response": resp}, model)

    return list(await asyncio.gather(*(one(r) for r in requests)))


@hookimpl
async def find_job(
    local_id: str, request_count: int, context: ProviderContext
) -> BatchHandle | None:
    """List batches and return the one whose display name is ``local_id``."""
    token = None
    scanned = 0
    limit = context.info.limits.find_job_max_scan
    while scanned < limit:
        page = await _request_json(
            context,
            "GET",
            "batches?pageSize=100" + (f"&pageToken={token}" if token else ""),
            "batches.list",
        )
        for op in page.get("operations") or []:
            meta = op.get("metadata") or {}
            if meta.get("displayName") == local_id:
                model = str(meta.get("model", "")).removeprefix("models/")
                return BatchHandle(
                    provider="google",
                    batch_id=op["name"],
                    local_id=local_id,
                    model=model,
                    mode=BatchMode.CHAT,
                    request_count=request_count,
                    submitted_at=_dt(meta.get("createTime")),
                )
            scanned += 1
        token = page.get("nextPageToken")
        if not token:
            break
    return None


@hookimpl
def create_emulator(options: Mapping[str, Any]) -> Any:
    """The local Gemini batch emulator (an ASGI app)."""
    from .emulator import create_app

    return create_app(dict(options))


#: Gemini's batch events and the status each announces.
_WEBHOOK_STATUS = {
    "batch.succeeded": BatchStatus.COMPLETED,
    "batch.failed": BatchStatus.FAILED,
    "batch.expired": BatchStatus.EXPIRED,
    "batch.cancelled": BatchStatus.CANCELLED,
}


@hookimpl
def parse_webhook(
    body: bytes, headers: Mapping[str, str], secret: str, context: ProviderContext
) -> WebhookEvent | None:
    """Verify a static webhook's delivery (Standard Webhooks: HMAC-SHA256 under the ``whsec_``
    secret the WebhookService returned, timestamp within five minutes; the SDK has no verifier),
    then read the batch of a ``batch.*`` event: ``data.id``, as ``batches/ID`` or bare ``ID``.

    Dynamic (per-job) webhooks are signed with RS256 JWTs checked against Google's JWKS, which
    needs the network; they are not accepted here."""
    event_id = verify_standard_webhook(secret, body, headers)
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRejectedError(f"google webhook refused: the body is not JSON ({exc})") from exc
    kind = event.get("type") if isinstance(event, dict) else None
    if not isinstance(kind, str):
        raise WebhookRejectedError("google webhook refused: the event has no type")
    if kind not in _WEBHOOK_STATUS:
        return None
    data = event.get("data")
    batch = data.get("id") if isinstance(data, dict) else None
    if not isinstance(batch, str) or not batch:
        raise WebhookRejectedError(f"google webhook refused: a {kind} event without data.id")
    return WebhookEvent(
        event_id=event_id,
        batch_id=batch if batch.startswith("batches/") else f"batches/{batch}",
        status=_WEBHOOK_STATUS[kind],
        event_type=kind,
    )
