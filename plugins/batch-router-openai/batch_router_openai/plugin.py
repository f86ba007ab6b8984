"""The OpenAI provider's hook implementations (entry point ``openai``).

The ``openai`` SDK is imported on the first network call, never at import time, so discovery
(``batch-router providers``) stays fast.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timezone
from typing import Any

from batch_router_core.formats.openai_batch.requests import batch_lines, endpoint_for
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
    WebhookEvent,
    WebhookRejectedError,
    cleanup_pending,
    crash_point,
    create_from_upload,
    hookimpl,
    is_refusal,
    load_provider_defaults,
    per_loop,
    result_for_error,
)
from batch_router_core.plugin.fastjson import iter_jsonl_chunks

from .errors import map_errors

#: Metadata key tagging every job with batch-router's local id (found again after a crash).
TAG_KEY = "batch_router_local_id"


def _client(context: ProviderContext) -> Any:
    """An AsyncOpenAI client for these options, one per event loop (their pools are loop-bound)."""
    opts = context.options
    key = tuple(opts.get(k) for k in ("api_key", "base_url", "organization", "project"))

    def build() -> Any:
        from openai import AsyncOpenAI

        kwargs = {
            k: v
            for k, v in zip(("api_key", "base_url", "organization", "project"), key, strict=True)
            if v
        }
        # Core owns retries (backoff, retry-after, submit never retried): the SDK must not retry
        # too.
        with map_errors("client"):
            return AsyncOpenAI(max_retries=0, timeout=float(opts.get("timeout", 600)), **kwargs)

    return per_loop(("openai", *key), build)


def _dt(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None


@hookimpl
def provider_info() -> ProviderInfo:
    """Declared in ``defaults.yaml``."""
    return load_provider_defaults("batch_router_openai", "defaults.yaml")


@hookimpl
def check_credentials(context: ProviderContext) -> str | None:
    """A key from ``--option api_key`` or ``OPENAI_API_KEY`` (what the SDK reads)."""
    if context.options.get("api_key") or os.environ.get("OPENAI_API_KEY"):
        return None
    return "no API key: set OPENAI_API_KEY, or pass --option api_key=... (api_key=... in code)"


@hookimpl
def prepare_payloads(batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
    """Unified batch -> OpenAI batch input lines (lazily)."""
    endpoint = endpoint_for(batch.configured_params)
    return PreparedPayloads(
        provider="openai",
        model=batch.model,
        mode=batch.mode,
        lines=batch_lines(batch, context.info.settings),
        metadata={"endpoint": endpoint},
    )


@hookimpl
async def submit(prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
    """Upload the input file (purpose ``batch``) and create the batch, tagged with the local id.

    An upload whose answer was lost is looked for by its file name and deleted; a create whose
    answer was lost is looked up by its tag (see :mod:`batch_router_core.plugin.uploads`).
    """
    client = _client(context)
    endpoint = prepared.metadata["endpoint"]
    if prepared.resubmission:  # an earlier attempt may have uploaded the file before it was lost
        await _discard_uploads_named(client, prepared.path.name, context, strict=True)
    try:
        with map_errors("files.create"):
            with prepared.path.open("rb") as fh:
                uploaded = await client.files.create(file=(prepared.path.name, fh), purpose="batch")
    except ProviderError as exc:
        if not is_refusal(exc):
            # Best effort; the error (never a 429 here) makes the next try a resubmission that
            # cleans up.
            await _discard_uploads_named(client, prepared.path.name, context)
        raise
    crash_point("after_upload")

    async def create() -> BatchHandle:
        with map_errors("batches.create"):
            batch = await client.batches.create(
                input_file_id=uploaded.id,
                endpoint=endpoint,
                completion_window="24h",
                metadata={TAG_KEY: prepared.local_id},
            )
        return BatchHandle(
            provider="openai",
            batch_id=batch.id,
            local_id=prepared.local_id,
            model=prepared.model,
            mode=prepared.mode,
            request_count=prepared.request_count,
            submitted_at=_dt(batch.created_at),
            data={
                "endpoint": endpoint,
                "input_file_id": uploaded.id,
                "input_path": str(prepared.path),
            },
        )

    async def discard() -> None:
        with map_errors("files.delete"):
            await client.files.delete(uploaded.id)

    return await create_from_upload(
        create,
        lookup=lambda: find_job(local_id=prepared.local_id, context=context),
        discard=discard,
        log=context.logger.bind(local_id=prepared.local_id),
    )


async def _discard_uploads_named(
    client: Any, name: str, context: ProviderContext, *, strict: bool = False
) -> None:
    """Delete batch files called ``name``: an upload that landed although its answer was lost.

    Best effort after a failed upload (that error is what matters, and the next attempt comes back
    here ``strict``); ``strict`` before a re-upload, so that a failure to clean up is retried rather
    than leaving an orphan behind.
    """
    try:
        with map_errors("files.list"):
            async for f in client.files.list(purpose="batch"):
                if f.filename == name:
                    with map_errors("files.delete", file_id=f.id):
                        await client.files.delete(f.id)
    except ProviderError as exc:
        if strict:
            raise cleanup_pending(exc, f"an earlier upload of {name}") from exc
        context.logger.warning("upload_not_discarded", file=name, error=str(exc))


def _report(batch: Any, context: ProviderContext) -> BatchStatusReport:
    status = context.normalize_status(batch.status)
    rc = batch.request_counts
    total = rc.total if rc else 0
    done = rc.completed if rc else 0
    failed = rc.failed if rc else 0
    counts = RequestCounts(
        total=total,
        succeeded=done,
        errored=failed,
        processing=0 if status.is_terminal else max(0, total - done - failed),
    )
    error = None
    codes = {e.code for e in batch.errors.data} if batch.errors and batch.errors.data else set()
    if batch.errors and batch.errors.data:
        error = "; ".join(
            f"line {e.line}: {e.code}: {e.message}" if e.line else f"{e.code}: {e.message}"
            for e in batch.errors.data[:20]
        )
    ended = batch.completed_at or batch.failed_at or batch.expired_at or batch.cancelled_at
    return BatchStatusReport(
        provider="openai",
        batch_id=batch.id,
        status=status,
        raw_status=batch.status,
        request_counts=counts,
        created_at=_dt(batch.created_at),
        started_at=_dt(batch.in_progress_at),
        finalizing_at=_dt(batch.finalizing_at),
        ended_at=_dt(ended),
        expires_at=_dt(batch.expires_at),
        cancelling_at=_dt(batch.cancelling_at),
        error=error,
        raw=batch.model_dump(mode="json"),
        # The organisation's queue of enqueued tokens was full: nothing ran, and it can be created
        # again once earlier batches have finished.
        requeue=status is BatchStatus.FAILED and "token_limit_exceeded" in codes,
    )


@hookimpl
async def poll_status(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Retrieve the batch and normalise its status through the YAML map."""
    with map_errors("batches.retrieve", batch_id=handle.batch_id):
        batch = await _client(context).batches.retrieve(handle.batch_id)
    return _report(batch, context)


@hookimpl
async def cancel(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Ask OpenAI to cancel (the batch goes ``cancelling``, then ``cancelled``)."""
    with map_errors("batches.cancel", batch_id=handle.batch_id):
        batch = await _client(context).batches.cancel(handle.batch_id)
    return _report(batch, context)


@hookimpl
async def delete_job(handle: BatchHandle, context: ProviderContext) -> bool:
    """Delete what OpenAI keeps of an ended batch: its input, output and error files (a batch
    itself cannot be deleted). A file already gone counts as deleted."""
    client = _client(context)
    with map_errors("batches.retrieve", batch_id=handle.batch_id):
        batch = await client.batches.retrieve(handle.batch_id)
    for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        try:
            with map_errors("files.delete", file_id=file_id):
                await client.files.delete(file_id)
        except ProviderPermanentError as exc:
            if getattr(exc, "status_code", None) != 404:
                raise
    return True


async def _lines(client: Any, file_id: str) -> AsyncIterator[dict[str, Any]]:
    """Stream a file's JSONL content from the API, line by line."""
    with map_errors("files.content", file_id=file_id):
        async with client.files.with_streaming_response.content(file_id) as response:
            async for line in iter_jsonl_chunks(response.iter_bytes(1 << 16)):
                yield line


async def _input_ids(
    client: Any, handle: BatchHandle, context: ProviderContext
) -> AsyncIterator[str]:
    """The submitted custom_ids: from batch-router's local copy, else downloaded from the API."""
    local = context.submitted_custom_ids(handle)
    if local is not None:
        for cid in local:
            yield cid
        return
    async for line in _lines(client, handle.data["input_file_id"]):
        yield line["custom_id"]


@hookimpl
async def fetch_results(
    handle: BatchHandle, context: ProviderContext
) -> AsyncIterator[RequestResult]:
    """Stream the output file, then the error file; account for requests in neither."""
    client = _client(context)
    with map_errors("batches.retrieve", batch_id=handle.batch_id):
        batch = await client.batches.retrieve(handle.batch_id)
    status = context.normalize_status(batch.status)
    if not status.is_terminal:
        raise ProviderPermanentError(
            f"batch {batch.id} has not ended ({batch.status})", provider="openai", batch_id=batch.id
        )
    from batch_router_core.formats.openai_batch.results import parse_line

    rc = batch.request_counts
    # When the counts say every request has a line, nothing can be missing: no need to remember ids
    # (memory stays flat for the common, completed case).
    complete = (
        status is BatchStatus.COMPLETED
        and rc is not None
        and (rc.completed + rc.failed >= handle.request_count)
    )
    seen: set[str] = set()
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            async for line in _lines(client, file_id):
                result = parse_line(line, handle.model)
                if not complete:
                    seen.add(result.custom_id)
                yield result
    if complete:
        return
    missing = {
        BatchStatus.CANCELLED: (
            ResultStatus.CANCELLED,
            "batch_cancelled",
            "The batch was cancelled before this request ran.",
        ),
        BatchStatus.EXPIRED: (
            ResultStatus.EXPIRED,
            "batch_expired",
            "The request was not executed before the completion window expired.",
        ),
    }.get(
        status,
        (
            ResultStatus.ERRORED,
            "batch_failed" if status is BatchStatus.FAILED else "missing_result",
            _report(batch, context).error or "No result was returned.",
        ),
    )
    async for cid in _input_ids(client, handle, context):
        if cid not in seen:
            seen.add(cid)
            yield RequestResult(
                custom_id=cid,
                status=missing[0],
                provider="openai",
                model=handle.model,
                error=RequestError(message=missing[2], code=missing[1]),
            )


def _shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders first): the shares add up
    to ``total`` exactly."""
    if not sum(weights):
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: shares[i] - exact[i])
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


@hookimpl
async def execute_now(
    requests: list[InputRequest], params: InferenceParams, context: ProviderContext
) -> list[RequestResult]:
    """Run a small group now: one call for all inputs of embeddings and of completions (a prompt
    list), concurrent calls otherwise."""
    from batch_router_core.formats.openai_batch.requests import (
        COMPLETIONS,
        EMBEDDINGS,
        _body_params,
        _payload,
        _system_message,
    )
    from batch_router_core.formats.openai_batch.results import parse_line

    client = _client(context)
    endpoint = endpoint_for(params)
    base = _body_params(params, endpoint, context.info.settings, None)
    path = endpoint.removeprefix("/v1")

    def result(req: InputRequest, body: dict[str, Any]) -> RequestResult:
        return parse_line(
            {"custom_id": req.custom_id, "response": {"status_code": 200, "body": body}},
            str(params.model_id),
        )

    if endpoint == EMBEDDINGS:
        texts = [_payload(r, endpoint, None)["input"] for r in requests]
        with map_errors("embeddings.create"):
            resp = await client.post(path, body={**base, "input": texts}, cast_to=object)
        # The call reports one usage for every input: each result gets its share (by length), so
        # that the results' usage adds up to the call's, as each answer's does elsewhere.
        total = int((resp.get("usage") or {}).get("prompt_tokens") or 0)
        shares = _shares(total, [len(t) for t in texts])
        out = []
        items = sorted(resp["data"], key=lambda d: d["index"])
        for r, item, tokens in zip(requests, items, shares, strict=True):
            usage = {"prompt_tokens": tokens, "total_tokens": tokens}
            out.append(result(r, {**resp, "data": [item], "usage": usage}))
        return out
    if endpoint == COMPLETIONS and len(requests) > 1:
        # The completions endpoint takes a list of prompts: one call, a choice per prompt.
        prompts = [_payload(r, endpoint, None)["prompt"] for r in requests]
        with map_errors("completions.create"):
            resp = await client.post(path, body={**base, "prompt": prompts}, cast_to=object)
        choices = sorted(resp["choices"], key=lambda c: c["index"])
        usage = resp.get("usage") or {}
        # The call reports one usage: each result gets its share of the prompt tokens (by
        # length) and of the completion tokens (by answer length), adding up to the call's.
        prompt_shares = _shares(int(usage.get("prompt_tokens") or 0), [len(p) for p in prompts])
        answer_shares = _shares(
            int(usage.get("completion_tokens") or 0), [len(c.get("text") or "") for c in choices]
        )
        out = []
        for r, choice, pt, ct in zip(requests, choices, prompt_shares, answer_shares, strict=True):
            own = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
            out.append(result(r, {**resp, "choices": [{**choice, "index": 0}], "usage": own}))
        return out
    system = _system_message(params, endpoint)

    async def one(req: InputRequest) -> RequestResult:
        try:
            with map_errors(endpoint.strip("/")):
                body = await client.post(
                    path, body={**base, **_payload(req, endpoint, system)}, cast_to=object
                )
        except ProviderPermanentError as exc:
            return result_for_error(
                req.custom_id, exc, provider="openai", model=str(params.model_id)
            )
        return result(req, body)

    return list(await asyncio.gather(*(one(r) for r in requests)))


@hookimpl
async def find_job(local_id: str, context: ProviderContext) -> BatchHandle | None:
    """List batches (newest first) and return the one tagged ``local_id``, if any."""
    client = _client(context)
    limit = context.info.limits.find_job_max_scan
    scanned = 0
    with map_errors("batches.list"):
        async for batch in client.batches.list(limit=100):
            if (batch.metadata or {}).get(TAG_KEY) == local_id:
                return BatchHandle(
                    provider="openai",
                    batch_id=batch.id,
                    local_id=local_id,
                    model=batch.model or "",
                    mode=_mode_for(batch.endpoint),
                    request_count=batch.request_counts.total if batch.request_counts else 0,
                    submitted_at=_dt(batch.created_at),
                    data={"endpoint": batch.endpoint, "input_file_id": batch.input_file_id},
                )
            scanned += 1
            if scanned >= limit:
                break
    return None


def _mode_for(endpoint: str) -> BatchMode:
    return {"/v1/embeddings": BatchMode.EMBEDDING, "/v1/completions": BatchMode.COMPLETION}.get(
        endpoint, BatchMode.CHAT
    )


@hookimpl
def create_emulator(options: Mapping[str, Any]) -> Any:
    """The local OpenAI Batch API emulator (an ASGI app)."""
    from .emulator import create_app

    return create_app(dict(options))


#: OpenAI's batch events and the status each announces.
_WEBHOOK_STATUS = {
    "batch.completed": BatchStatus.COMPLETED,
    "batch.failed": BatchStatus.FAILED,
    "batch.expired": BatchStatus.EXPIRED,
    "batch.cancelled": BatchStatus.CANCELLED,
}


@hookimpl
def parse_webhook(
    body: bytes, headers: Mapping[str, str], secret: str, context: ProviderContext
) -> WebhookEvent | None:
    """Verify with the SDK's own ``webhooks.unwrap`` (Standard Webhooks: signature, timestamp within
    five minutes), then read the batch id of a ``batch.*`` event."""
    import openai
    from openai.types.webhooks import (
        BatchCancelledWebhookEvent,
        BatchCompletedWebhookEvent,
        BatchExpiredWebhookEvent,
        BatchFailedWebhookEvent,
    )

    # unwrap makes no request: the client only carries the secret (the key is never used).
    client = openai.OpenAI(api_key="unused-for-webhooks", webhook_secret=secret)
    try:
        event = client.webhooks.unwrap(body, dict(headers))
    except (openai.InvalidWebhookSignatureError, ValueError) as exc:
        raise WebhookRejectedError(f"openai webhook refused: {exc}") from exc
    batch_events = (
        BatchCompletedWebhookEvent,
        BatchFailedWebhookEvent,
        BatchExpiredWebhookEvent,
        BatchCancelledWebhookEvent,
    )
    if not isinstance(event, batch_events):
        return None
    status = _WEBHOOK_STATUS[event.type]
    return WebhookEvent(
        event_id=str(event.id),
        batch_id=str(event.data.id),
        status=status,
        event_type=event.type,
    )
