"""The legacy provider: batch-router hooks over the Legacy batch HTTP API.

Written against a small made-up API (see emulator.py) with the standard library's urllib, so the
template needs no SDK; replace ``_call`` with your provider's SDK. The hooks are synchronous: core
runs them in worker threads, so they never block an event loop.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from batch_router_core import (
    BatchHandle,
    BatchStatusReport,
    InputBatch,
    PreparedBatch,
    PreparedPayloads,
    ProviderInfo,
    RequestCounts,
    RequestError,
    RequestResult,
    ResultStatus,
    UsageInfo,
    hookimpl,
)
from batch_router_core.config import load_provider_defaults
from batch_router_core.context import ProviderContext
from batch_router_core.errors import ProviderTransientError
from batch_router_core.http_errors import error_for_status

BASE_URL_ENV = "legacy_BASE_URL".upper()
API_KEY_ENV = "legacy_API_KEY".upper()


def _call(context: ProviderContext, method: str, path: str, body: Any = None, *, raw: bool = False) -> Any:
    """One HTTP call; HTTP and connection errors become batch-router's typed errors."""
    base = (context.option("base_url") or os.environ.get(BASE_URL_ENV) or "http://127.0.0.1:8090").rstrip("/")
    key = context.option("api_key") or os.environ.get(API_KEY_ENV) or ""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=float(context.option("timeout", 60))) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise error_for_status(exc.code, f"{method} {path}: {exc.read()[:200]!r}", provider="legacy",
                               headers=exc.headers) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        raise ProviderTransientError(f"{method} {path}: {exc}", provider="legacy") from None
    return payload if raw else json.loads(payload)


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None


def _report(job: dict[str, Any], context: ProviderContext) -> BatchStatusReport:
    status = context.normalize_status(job["state"])
    done = job["succeeded"] + job["failed"]
    return BatchStatusReport(
        provider="legacy", batch_id=job["id"], status=status, raw_status=job["state"],
        request_counts=RequestCounts(total=job["total"], succeeded=job["succeeded"], errored=job["failed"],
                                     cancelled=job.get("cancelled", 0), expired=job.get("expired", 0),
                                     processing=0 if status.is_terminal else job["total"] - done),
        created_at=_dt(job["created"]), ended_at=_dt(job.get("ended")), raw=job)


@hookimpl
def provider_info() -> ProviderInfo:
    """Declared in defaults.yaml (no SDK import here: discovery must stay fast)."""
    return load_provider_defaults("batch_router_legacy", "defaults.yaml")


@hookimpl
def prepare_payloads(batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
    """Unified requests -> the service's request lines, lazily."""
    def lines() -> Iterator[bytes]:
        for req in batch.requests:
            params = batch.params_for(req)
            line: dict[str, Any] = {"custom_id": req.custom_id, "prompt": "\n".join(m.text for m in req.messages)}
            if params.system_prompt is not None:
                sp = params.system_prompt
                line["system"] = sp if isinstance(sp, str) else "\n".join(sp)
            for name in ("max_output_tokens", "temperature", "top_p"):
                if getattr(params, name) is not None:
                    line[name] = getattr(params, name)
            yield json.dumps(line).encode()

    return PreparedPayloads(provider="legacy", model=batch.model, mode=batch.mode, lines=lines())


@hookimpl
def submit(prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
    """Create the job, tagged with batch-router's local id (found again after a crash)."""
    requests = [json.loads(line) for line in prepared.iter_lines()]
    job = _call(context, "POST", "/jobs", {"model": prepared.model, "tag": prepared.local_id,
                                           "requests": requests})
    return BatchHandle(provider="legacy", batch_id=job["id"], local_id=prepared.local_id, model=prepared.model,
                       mode=prepared.mode, request_count=prepared.request_count, submitted_at=_dt(job["created"]))


@hookimpl
def poll_status(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """The job's state through the YAML status map."""
    return _report(_call(context, "GET", f"/jobs/{handle.batch_id}"), context)


@hookimpl
def fetch_results(handle: BatchHandle, context: ProviderContext) -> Iterator[RequestResult]:
    """One unified result per request, from the results JSONL."""
    body = _call(context, "GET", f"/jobs/{handle.batch_id}/results", raw=True)
    for raw in body.splitlines():
        if not raw.strip():
            continue
        item = json.loads(raw)
        if "output" in item:
            usage = UsageInfo(prompt_tokens=item["tokens_in"], completion_tokens=item["tokens_out"],
                              total_tokens=item["tokens_in"] + item["tokens_out"])
            yield RequestResult(custom_id=item["custom_id"], status=ResultStatus.SUCCEEDED, provider="legacy",
                                model=handle.model, text=item["output"], usage=usage, raw=item)
        elif item.get("cancelled"):
            yield RequestResult(custom_id=item["custom_id"], status=ResultStatus.CANCELLED, provider="legacy",
                                model=handle.model, error=RequestError(message="cancelled", code="cancelled"))
        elif item.get("expired"):
            yield RequestResult(custom_id=item["custom_id"], status=ResultStatus.EXPIRED, provider="legacy",
                                model=handle.model, error=RequestError(message="the job expired first",
                                                                       code="expired"))
        else:
            yield RequestResult(custom_id=item["custom_id"], status=ResultStatus.ERRORED, provider="legacy",
                                model=handle.model, error=RequestError(message=item["error"]), raw=item)


@hookimpl
def cancel(handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
    """Cancel the job."""
    return _report(_call(context, "POST", f"/jobs/{handle.batch_id}/cancel", {}), context)


@hookimpl
def find_job(local_id: str, request_count: int, context: ProviderContext) -> BatchHandle | None:
    """The job tagged with ``local_id``, if the service has one."""
    for job in _call(context, "GET", f"/jobs?tag={local_id}")["jobs"]:
        return BatchHandle(provider="legacy", batch_id=job["id"], local_id=local_id, model=job["model"],
                           mode="chat", request_count=request_count,  # type: ignore[arg-type]
                           submitted_at=_dt(job["created"]))
    return None


@hookimpl
def create_emulator(options: Mapping[str, Any]) -> Any:
    """The local emulator of the service (an ASGI app)."""
    from .emulator import create_app

    return create_app(dict(options))
