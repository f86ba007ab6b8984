"""The Anthropic provider's hook implementations (entry point ``anthropic``).

The ``anthropic`` SDK is imported on the first network call, never at import time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

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
    ProviderInfo,
    ProviderPermanentError,
    RequestCounts,
    RequestResult,
    SdkErrorMap,
    UnsupportedOperationError,
    UnverifiedCandidatesError,
    hookimpl,
    load_provider_defaults,
    per_loop,
    result_for_error,
)
from batch_router_core.plugin.fastjson import iter_jsonl_chunks

from .convert import batch_lines
from .parse import parse_line


def _classes() -> dict[str, tuple[type[BaseException], ...]]:
    import anthropic

    return {
        "status": (anthropic.APIStatusError,),
        "transient": (anthropic.APIConnectionError, anthropic.APITimeoutError),
        "permanent": (anthropic.AnthropicError,),
    }


_ERRORS = SdkErrorMap("anthropic", _classes)
map_errors = _ERRORS.map


def _client(context: ProviderContext) -> Any:
    """An AsyncAnthropic client for these options, one per event loop."""
    opts = context.options
    key = tuple(opts.get(k) for k in ("api_key", "auth_token", "base_url"))

    def build() -> Any:
        from anthropic import AsyncAnthropic

        kwargs = {
            k: v for k, v in zip(("api_key", "auth_token", "base_url"), key, strict=True) if v
        }
        # Core owns retries: the SDK must not retry underneath it.
        with map_errors("client"):
            return AsyncAnthropic(max_retries=0, timeout=float(opts.get("timeout", 600)), **kwargs)

    return per_loop(("anthropic", *key), build)


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _raw_status(batch: Any) -> str:
    """``processing_status``, refined for ended batches by their request counts."""
    status = str(batch.processing_status)
    if status != "ended":
        return status
    if batch.cancel_initiated_at is not None:
        return "ended.cancelled"
    c = batch.request_counts
    if c.succeeded + c.errored == 0 and c.expired > 0:
        return "ended.expired"
    return "ended"


def _report(batch: Any, context: ProviderContext) -> BatchStatusReport:
    raw = _raw_status(batch)
    c = batch.request_counts
    return BatchStatusReport(
        provider="anthropic",
        batch_id=batch.id,
        status=context.normalize_status(raw),
        raw_status=raw,
        request_counts=RequestCounts(
            total=c.processing + c.succeeded + c.errored + c.canceled + c.expired,
            processing=c.processing,
            succeeded=c.succeeded,
            errored=c.errored,
            cancelled=c.canceled,
            expired=c.expired,
        ),
        created_at=_dt(batch.created_at),
        started_at=_dt(batch.created_at),
        ended_at=_dt(batch.ended_at),
        expires_at=_dt(batch.expires_at),
        cancelling_at=_dt(batch.cancel_initiated_at),
        raw=batch.model_dump(mode="json"),
    )


@hookimpl
def provider_info() -> ProviderInfo:
    """Declared in ``defaults.yaml``."""
    return load_provider_defaults("batch_router_anthropic", "defaults.yaml")


@hookimpl
def check_credentials(context: ProviderContext) -> str | None:
    """A key or token from the options or ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_AUTH_TOKEN``."""
    opts = context.options
    if (
        opts.get("api_key")
        or opts.get("auth_token")
        or os.environ.get("ANTHROPIC_API_KEY")
        or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    ):
        return None
    return "no API key: set ANTHROPIC_API_KEY, or pass --option api_key=... (api_key=... in code)"


@hookimpl
def prepare_payloads(batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
    """Unified batch -> Message Batches request lines (lazily)."""
    return PreparedPayloads(
        provider="anthropic",
        model=batch.model,
        mode=batch.mode,
        lines=batch_lines(batch, context.info.settings),
    )


@hookimpl
async def submit(prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
    """Create the Message Batch from the prepared lines (no file upload on this API).

    The whole batch is one JSON body. The prepared lines are spliced into it as bytes and posted
    through the SDK's client, rather than parsed into dicts for the typed ``create`` to serialise
    again: a third of the memory and a fraction of the CPU for 100,000-request batches.
    """
    from anthropic.types.messages import MessageBatch

    body = b'{"requests":[' + b",".join(prepared.iter_lines()) + b"]}"
    with map_errors("messages.batches.create"):
        batch = await _client(context).post(
            "/v1/messages/batches",
            content=body,
            cast_to=MessageBatch,
            options={"headers": {"Content-Type": "application/json"}},
        )
    return BatchHandle(
        provider="anthropic",
        batch_id=batch.id,
        local_id=prepared.local_id,
        model=prepared.model,
        mode=prepared.mode,
        request_count=prepared.request_count,
        submitted_at=_dt(batch.created_at),
        data={"input_path": str(prepared.path)},
    )


@hookimpl
async def poll_status(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Retrieve the batch; map processing_status (+ cancel/expiry detail) through the YAML."""
    with map_errors("messages.batches.retrieve", batch_id=handle.batch_id):
        batch = await _client(context).messages.batches.retrieve(handle.batch_id)
    return _report(batch, context)


@hookimpl
async def cancel(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Ask Anthropic to cancel (``canceling``, then ``ended`` with the rest canceled)."""
    with map_errors("messages.batches.cancel", batch_id=handle.batch_id):
        batch = await _client(context).messages.batches.cancel(handle.batch_id)
    return _report(batch, context)


@hookimpl
async def fetch_results(
    handle: BatchHandle, context: ProviderContext
) -> AsyncIterator[RequestResult]:
    """Stream the results JSONL: one line per request (canceled and expired ones included)."""
    client = _client(context)
    with map_errors("messages.batches.retrieve", batch_id=handle.batch_id):
        batch = await client.messages.batches.retrieve(handle.batch_id)
    if batch.processing_status != "ended":
        raise ProviderPermanentError(
            f"batch {batch.id} has not ended ({batch.processing_status})",
            provider="anthropic",
            batch_id=batch.id,
        )
    with map_errors("messages.batches.results", batch_id=handle.batch_id):
        async with client.messages.batches.with_streaming_response.results(
            handle.batch_id
        ) as response:
            async for line in iter_jsonl_chunks(response.iter_bytes(1 << 16)):
                yield parse_line(line, handle.model)


@hookimpl
async def execute_now(
    requests: list[InputRequest], params: InferenceParams, context: ProviderContext
) -> list[RequestResult]:
    """Run a small group now: concurrent Messages calls (the API takes one conversation per
    call)."""
    from .convert import _messages, _params

    client = _client(context)
    base = _params(params, context.info.settings, None)

    async def one(req: InputRequest) -> RequestResult:
        try:
            with map_errors("messages.create"):
                message = await client.post(
                    "/v1/messages", body={**base, "messages": _messages(req)}, cast_to=object
                )
        except ProviderPermanentError as exc:
            return result_for_error(
                req.custom_id, exc, provider="anthropic", model=str(params.model_id)
            )
        return parse_line(
            {"custom_id": req.custom_id, "result": {"type": "succeeded", "message": message}},
            str(params.model_id),
        )

    return list(await asyncio.gather(*(one(r) for r in requests)))


@hookimpl
async def find_job(
    local_id: str, request_count: int, known_batch_ids: frozenset[str], context: ProviderContext
) -> BatchHandle | None:
    """Find the batches that may have been created for ``local_id`` after a crash.

    Message Batches carry no metadata, so the tag cannot be read back and a match is never proven
    here. Batches created after the local id's timestamp (minus a minute of clock skew) whose size
    equals the shard's, and that the ledger does not already hold, are candidates: none means the
    batch was certainly not created (None); any means UnverifiedCandidatesError, and the router
    waits for them to end and adopts one only if its results hold exactly the shard's custom_ids.
    """
    import re

    m = re.match(r"br-(\d{8}T\d{6})-", local_id)
    if m is None:
        raise UnsupportedOperationError(
            f"cannot read a creation time from {local_id!r}", provider="anthropic"
        )
    since = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc) - timedelta(
        minutes=1
    )
    candidates = []
    scanned = 0
    limit = context.info.limits.find_job_max_scan
    with map_errors("messages.batches.list"):
        async for batch in _client(context).messages.batches.list(limit=100):
            created = _dt(batch.created_at)
            if created is not None and created < since:
                break
            c = batch.request_counts
            total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
            if batch.id not in known_batch_ids and (not request_count or total == request_count):
                candidates.append(
                    BatchHandle(
                        provider="anthropic",
                        batch_id=batch.id,
                        local_id=local_id,
                        model="",
                        mode=BatchMode.CHAT,
                        request_count=total,
                        submitted_at=_dt(batch.created_at),
                    )
                )
            scanned += 1
            if scanned >= limit:
                break
    if not candidates:
        return None
    raise UnverifiedCandidatesError(
        f"{len(candidates)} batch(es) could be the one created for {local_id}: "
        f"{', '.join(b.batch_id for b in candidates[:5])}",
        candidates,
        provider="anthropic",
    )


@hookimpl
async def delete_job(handle: BatchHandle, context: ProviderContext) -> bool:
    """Delete an ended Message Batch (its results go with it)."""
    with map_errors("messages.batches.delete", batch_id=handle.batch_id):
        await _client(context).messages.batches.delete(handle.batch_id)
    return True


@hookimpl
def create_emulator(options: Mapping[str, Any]) -> Any:
    """The local Message Batches emulator (an ASGI app)."""
    from .emulator import create_app

    return create_app(dict(options))
