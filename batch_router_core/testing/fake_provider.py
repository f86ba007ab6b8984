"""A fake provider: an in-memory batch service on a controllable clock, behind the real hooks.

It exists so that core, the router and user pipelines can be tested without any SDK: the plugin
writes and reads real JSONL files and goes through the same registry, facade and retry policy as a
real provider. Its service (:class:`FakeService`) can inject the failures real services have.

Use it in a test::

    service = FakeService(clock=ManualClock())
    provider = registry.get("fake", service=service)

Without a ``service`` option the plugin uses a process-wide service on the wall clock whose jobs
finish in about a second (for demos). The wire format is the plugin's own and stays private here.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import orjson

from batch_router_core.config import load_provider_defaults
from batch_router_core.emulation.clock import Clock, ManualClock, SystemClock
from batch_router_core.errors import ProviderPermanentError, ProviderTransientError
from batch_router_core.files import iter_jsonl, write_jsonl_lines
from batch_router_core.hookspecs import hookimpl
from batch_router_core.models.content import TextContent
from batch_router_core.models.enums import BatchMode, ResultStatus
from batch_router_core.models.extras import with_kwargs
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.provider import (
    BatchHandle,
    PreparedBatch,
    PreparedPayloads,
    ProviderInfo,
)
from batch_router_core.models.requests import InputBatch, InputRequest
from batch_router_core.models.results import (
    BatchStatusReport,
    RequestCounts,
    RequestError,
    RequestResult,
    new_result,
    new_usage,
)
from batch_router_core.plugin.context import ProviderContext
from batch_router_core.plugin.fastjson import SENTINELS, OneTextLines, one_user_text, plain_text

SUCCEEDED = ResultStatus.SUCCEEDED

__all__ = ["FakeJob", "FakeProvider", "FakeService", "ManualClock", "plugin"]


@attrs.define(kw_only=True)
class FakeJob:
    """One job inside the fake service."""

    id: str
    local_id: str
    model: str
    mode: BatchMode
    input_path: Path
    request_count: int
    created_at: float
    cancel_at: float | None = None
    output_path: Path | None = None
    raw_status: str = "queued"
    #: when set, the job never finishes on its own: it expires at created_at + expire_after
    stuck: bool = False


@attrs.define
class _Fault:
    operation: str
    error: Exception
    times: int


class FakeService:
    """The in-memory "server" behind the fake provider.

    Timeline of a job (seconds on ``clock``): ``queued`` for ``validate_s``, ``running`` until
    ``run_s``, ``wrapping_up`` for ``finalize_s``, then ``done``. A cancel moves it to ``stopping``
    and,
    ``cancel_s`` later, ``stopped``. A stuck job reaches ``timed_out`` after ``expire_after``.
    Requests whose ``custom_id`` is in ``error_ids`` come back errored.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        workdir: Path | str | None = None,
        validate_s: float = 1.0,
        run_s: float = 2.0,
        finalize_s: float = 1.0,
        cancel_s: float = 1.0,
        expire_after: float = 86400.0,
    ) -> None:
        self.clock = clock or ManualClock()
        self.workdir = Path(workdir) if workdir is not None else None
        self.validate_s = validate_s
        self.run_s = run_s
        self.finalize_s = finalize_s
        self.cancel_s = cancel_s
        self.expire_after = expire_after
        self.jobs: dict[str, FakeJob] = {}
        self.error_ids: set[str] = set()
        self.stuck_next = False
        self.calls: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self._fail_fetch_after: int | None = None
        self._lock = threading.RLock()

    # -- fault injection -------------------------------------------------------------------------

    def fail_next(self, operation: str, error: Exception, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` (submit, poll_status...) raise
        ``error``."""
        with self._lock:
            self._faults.append(_Fault(operation, error, times))

    def transient(self, operation: str, times: int = 1, retry_after: float | None = None) -> None:
        """Inject a rate-limit-like transient error into ``operation``."""
        self.fail_next(
            operation,
            ProviderTransientError(
                "rate limited (injected)", provider="fake", status_code=429, retry_after=retry_after
            ),
            times,
        )

    def permanent(self, operation: str, times: int = 1) -> None:
        """Inject an authentication-like permanent error into ``operation``."""
        self.fail_next(
            operation,
            ProviderPermanentError(
                "invalid credentials (injected)", provider="fake", status_code=401
            ),
            times,
        )

    def break_fetch_after(self, n: int) -> None:
        """Make the next results stream drop (transient error) after ``n`` results."""
        self._fail_fetch_after = n

    def _enter(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            for fault in self._faults:
                if fault.operation == operation and fault.times > 0:
                    fault.times -= 1
                    raise fault.error

    # -- lifecycle -----------------------------------------------------------------------------

    def create(self, prepared: PreparedBatch) -> FakeJob:
        """Create a job from a prepared input file."""
        self._enter("submit")
        with self._lock:
            job = FakeJob(
                id=f"fake_{secrets.token_hex(8)}",
                local_id=prepared.local_id,
                model=prepared.model,
                mode=prepared.mode,
                input_path=prepared.path,
                request_count=prepared.request_count,
                created_at=self.clock.now(),
                stuck=self.stuck_next,
            )
            self.stuck_next = False
            self.jobs[job.id] = job
            return job

    def get(self, job_id: str) -> FakeJob:
        """Look a job up and bring its state up to the clock."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise ProviderPermanentError(
                    f"no such job {job_id!r}", provider="fake", status_code=404
                )
            self._advance(job)
            return job

    def cancel(self, job_id: str) -> FakeJob:
        """Request cancellation of a job."""
        with self._lock:
            job = self.get(job_id)
            if job.raw_status in ("done", "broken", "stopped", "timed_out"):
                raise ProviderPermanentError(
                    f"job {job_id} already ended ({job.raw_status})",
                    provider="fake",
                    status_code=409,
                )
            if job.cancel_at is None:
                job.cancel_at = self.clock.now()
            self._advance(job)
            return job

    def _advance(self, job: FakeJob) -> None:
        if job.raw_status in ("done", "broken", "stopped", "timed_out"):
            return
        age = self.clock.now() - job.created_at
        if job.cancel_at is not None:
            if self.clock.now() - job.cancel_at >= self.cancel_s:
                self._finish(job, "stopped")
            else:
                job.raw_status = "stopping"
            return
        if job.stuck:
            if age >= self.expire_after:
                self._finish(job, "timed_out")
            else:
                job.raw_status = "queued" if age < self.validate_s else "running"
            return
        if age < self.validate_s:
            job.raw_status = "queued"
        elif age < self.validate_s + self.run_s:
            job.raw_status = "running"
        elif age < self.validate_s + self.run_s + self.finalize_s:
            job.raw_status = "wrapping_up"
        else:
            self._finish(job, "done")

    def _processed(self, job: FakeJob) -> int:
        """How many requests a job had finished when it ended (all, unless cut short)."""
        if job.raw_status == "done":
            return job.request_count
        if job.raw_status == "stopped" and job.cancel_at is not None:
            elapsed = job.cancel_at - job.created_at - self.validate_s
        else:  # timed out: half of it made it
            return job.request_count // 2
        frac = min(1.0, max(0.0, elapsed / self.run_s)) if self.run_s else 1.0
        return int(job.request_count * frac)

    def _finish(self, job: FakeJob, raw_status: str) -> None:
        job.raw_status = raw_status
        workdir = self.workdir or job.input_path.parent
        out = workdir / f"fake_output_{job.id}.jsonl"
        processed = self._processed(job)

        def lines() -> Iterator[bytes]:
            for i, (_, line) in enumerate(iter_jsonl(job.input_path)):
                cid = line["custom_id"]
                if i >= processed:
                    if raw_status == "timed_out":
                        yield orjson.dumps(
                            {
                                "custom_id": cid,
                                "response": None,
                                "error": {
                                    "code": "batch_expired",
                                    "message": "not executed before the completion window expired",
                                },
                            }
                        )
                    continue  # cancelled: in no file, like OpenAI
                if cid in self.error_ids:
                    yield orjson.dumps(
                        {
                            "custom_id": cid,
                            "response": {"status_code": 400, "body": None},
                            "error": {
                                "code": "invalid_request",
                                "message": "rejected by the fake service",
                            },
                        }
                    )
                    continue
                yield orjson.dumps(
                    {
                        "custom_id": cid,
                        "response": {"status_code": 200, "body": _answer(line["body"], job.mode)},
                        "error": None,
                    }
                )

        write_jsonl_lines(out, lines(), overwrite=True)
        job.output_path = out

    def counts(self, job: FakeJob) -> RequestCounts:
        """Request counts as the service reports them."""
        if job.raw_status in ("queued", "running", "wrapping_up", "stopping"):
            return RequestCounts(total=job.request_count, processing=job.request_count)
        processed = self._processed(job)
        errored = 0
        if job.output_path is not None and self.error_ids:
            errored = sum(
                1
                for _, line in iter_jsonl(job.output_path)
                if line.get("error") and line["error"].get("code") == "invalid_request"
            )
        rest = job.request_count - processed
        return RequestCounts(
            total=job.request_count,
            succeeded=processed - errored,
            errored=errored,
            cancelled=rest if job.raw_status == "stopped" else 0,
            expired=rest if job.raw_status == "timed_out" else 0,
        )


def _answer(body: dict[str, Any], mode: BatchMode) -> dict[str, Any]:
    """A deterministic response derived from the request body."""
    if mode is BatchMode.EMBEDDING:
        text = body["input"]
        dims = int(body.get("dimensions") or 8)
        seed = sum(text.encode()) or 1
        vec = [((seed * (i + 7)) % 1000) / 1000.0 for i in range(dims)]
        n = len(text.split())
        return {
            "embedding": vec,
            "usage": {"prompt_tokens": n, "completion_tokens": 0, "total_tokens": n},
        }
    if mode is BatchMode.COMPLETION:
        prompt = body["prompt"]
    else:
        last = body["messages"][-1]["content"]
        prompt = (
            last
            if isinstance(last, str)
            else " ".join(p.get("text", "") for p in last if p.get("type") == "text")
        )
    text = f"echo: {prompt}"
    words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])) or len(
        prompt.split()
    )
    completion = len(text.split())
    limit = body.get("max_tokens")
    finish = "stop"
    if limit is not None and completion > limit:
        text = " ".join(text.split()[:limit])
        completion = limit
        finish = "length"
    return {
        "text": text,
        "finish_reason": finish,
        "usage": {
            "prompt_tokens": words,
            "completion_tokens": completion,
            "total_tokens": words + completion,
        },
    }


# -- conversion: unified -> fake wire format ------------------------------------------------------


def _content(msg: Any) -> Any:
    text = plain_text(msg)
    if text is not None:
        return text
    out = []
    for p in msg.contents:
        if type(p) is TextContent:
            d: dict[str, Any] = {"type": "text", "text": p.text}
        else:
            d = {"type": p.type, "media_type": p.media_type}
            if p.data is not None:
                d["data"] = p.data
            else:
                d["url"] = p.url
        out.append(with_kwargs(d, p))
    return out


def _body_params(params: InferenceParams) -> dict[str, Any]:
    body: dict[str, Any] = {"model": params.model_id}
    if params.max_output_tokens is not None:
        body["max_tokens"] = params.max_output_tokens
    for name in ("temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "seed"):
        value = getattr(params, name)
        if value is not None:
            body[name] = value
    if params.stop_sequences is not None:
        body["stop"] = list(params.stop_sequences)
    if params.embedding_dimensions is not None:
        body["dimensions"] = params.embedding_dimensions
    body.update(params.provider_kwargs)
    return body


def _system(params: InferenceParams) -> dict[str, str] | None:
    sp = params.system_prompt
    if sp is None:
        return None
    return {"role": "system", "content": sp if isinstance(sp, str) else "\n\n".join(sp)}


def _lines(batch: InputBatch) -> Iterator[bytes]:
    dumps = orjson.dumps
    params = batch.configured_params
    mode = params.mode
    system = _system(params)
    # One body dict, refilled per request and serialised at once: the batch-level settings are
    # built once, and each line only adds its id and its messages.
    body = _body_params(params)
    line: dict[str, Any] = {"custom_id": None, "body": body}
    chat = mode is BatchMode.CHAT
    fast = _one_text_lines(line, system)
    for req in batch.requests:
        if chat and (text := one_user_text(req)) is not None:
            # One user text: splice the two values that differ into bytes serialised once.
            yield fast.line(req.custom_id, text)
            continue
        if req.params is not None or not chat:
            eff = batch.params_for(req)
            yield dumps(
                {
                    "custom_id": req.custom_id,
                    "body": {**_body_params(eff), **_payload(req, mode, _system(eff))},
                }
            )
            continue
        msgs: list[Any] = [system] if system is not None else []
        for m in req.messages:
            msgs.append(
                with_kwargs({"role": m.role, "content": _content(m)}, m)
            )  # orjson writes the enum's value
        body["messages"] = msgs
        line["custom_id"] = req.custom_id
        yield dumps(line)


def _one_text_lines(line: dict[str, Any], system: dict[str, str] | None) -> OneTextLines:
    """One-user-text lines, cut around their custom_id and text."""
    msgs: list[Any] = [system] if system is not None else []
    msgs.append({"role": "user", "content": SENTINELS[1]})
    return OneTextLines(
        {**line, "custom_id": SENTINELS[0], "body": {**line["body"], "messages": msgs}}
    )


def _payload(req: InputRequest, mode: BatchMode, system: dict[str, str] | None) -> dict[str, Any]:
    if mode is BatchMode.EMBEDDING:
        return {"input": "\n".join(m.text for m in req.messages)}
    if mode is BatchMode.COMPLETION:
        return {"prompt": "\n".join(m.text for m in req.messages)}
    msgs = [with_kwargs({"role": m.role.value, "content": _content(m)}, m) for m in req.messages]
    if system is not None:
        msgs.insert(0, system)
    return {"messages": msgs}


# -- conversion: fake wire format -> unified ----------------------------------------------------


def parse_result_line(
    line: dict[str, Any], provider: str = "fake", model: str | None = None
) -> RequestResult:
    """Turn one fake output line into a unified result."""
    err = line["error"]
    cid = line["custom_id"]
    if err:
        code = err.get("code")
        status = (
            ResultStatus.EXPIRED
            if code == "batch_expired"
            else ResultStatus.CANCELLED
            if code == "batch_cancelled"
            else ResultStatus.ERRORED
        )
        resp = line.get("response") or {}
        return new_result(
            cid,
            status,
            provider,
            model,
            error=RequestError(
                message=err.get("message", ""), code=code, status_code=resp.get("status_code")
            ),
            raw=line,
        )
    body = line["response"]["body"]
    u = body.get("usage")
    usage = new_usage(u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) if u else None
    emb = body.get("embedding")
    return new_result(
        cid,
        SUCCEEDED,
        provider,
        model,
        body.get("text"),
        tuple(emb) if emb is not None else None,
        body.get("finish_reason"),
        usage,
        None,
        line,
    )


# -- the plugin -----------------------------------------------------------------------------------

_DEFAULT_SERVICE: FakeService | None = None
_DEFAULT_LOCK = threading.Lock()


def _service(context: ProviderContext) -> FakeService:
    svc = context.option("service")
    if svc is not None:
        return svc  # type: ignore[no-any-return]
    global _DEFAULT_SERVICE
    with _DEFAULT_LOCK:
        if _DEFAULT_SERVICE is None:
            _DEFAULT_SERVICE = FakeService(
                clock=SystemClock(), validate_s=0.1, run_s=0.5, finalize_s=0.1, cancel_s=0.1
            )
        return _DEFAULT_SERVICE


def _report(svc: FakeService, job: FakeJob, context: ProviderContext) -> BatchStatusReport:
    started = job.created_at + svc.validate_s
    ended = job.raw_status in ("done", "broken", "stopped", "timed_out")

    def dt(ts: float | None) -> datetime | None:
        return datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None

    now = svc.clock.now()
    return BatchStatusReport(
        provider=context.provider,
        batch_id=job.id,
        status=context.normalize_status(job.raw_status),
        raw_status=job.raw_status,
        request_counts=svc.counts(job),
        created_at=dt(job.created_at),
        started_at=dt(started) if now >= started else None,
        ended_at=dt(now) if ended else None,
        cancelling_at=dt(job.cancel_at),
        expires_at=dt(job.created_at + svc.expire_after),
    )


class FakeProvider:
    """The fake provider's hook implementations (the entry point loads :data:`plugin`)."""

    @hookimpl
    def provider_info(self) -> ProviderInfo:
        """Declared from ``fake_defaults.yaml``."""
        return load_provider_defaults("batch_router_core.testing", "fake_defaults.yaml")

    @hookimpl
    def prepare_payloads(self, batch: InputBatch, context: ProviderContext) -> PreparedPayloads:
        """Unified requests -> fake JSONL lines (lazily)."""
        return PreparedPayloads(
            provider=context.provider, model=batch.model, mode=batch.mode, lines=_lines(batch)
        )

    @hookimpl
    def submit(self, prepared: PreparedBatch, context: ProviderContext) -> BatchHandle:
        """Create the job in the service."""
        svc = _service(context)
        job = svc.create(prepared)
        return BatchHandle(
            provider=context.provider,
            batch_id=job.id,
            local_id=prepared.local_id,
            model=prepared.model,
            mode=prepared.mode,
            request_count=prepared.request_count,
            submitted_at=svc.clock.now_dt(),
            data={"input_path": str(prepared.path)},
        )

    @hookimpl
    async def poll_status(self, handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
        """The job's status (async, to exercise the async path)."""
        svc = _service(context)
        svc._enter("poll_status")
        return _report(svc, svc.get(handle.batch_id), context)

    @hookimpl
    def fetch_results(
        self, handle: BatchHandle, context: ProviderContext
    ) -> Iterator[RequestResult]:
        """Stream the output file; requests in no file after a cancel come back cancelled."""
        svc = _service(context)
        svc._enter("fetch_results")
        job = svc.get(handle.batch_id)
        status = context.normalize_status(job.raw_status)
        if not status.is_terminal:
            raise ProviderPermanentError(
                f"job {job.id} has not ended ({status.value})", provider=context.provider
            )
        return self._stream(svc, job, handle, context)

    def _stream(
        self, svc: FakeService, job: FakeJob, handle: BatchHandle, context: ProviderContext
    ) -> Iterator[RequestResult]:
        seen: set[str] = set()
        fail_after = svc._fail_fetch_after
        svc._fail_fetch_after = None
        if job.output_path is not None:
            for n, (_, line) in enumerate(iter_jsonl(job.output_path)):
                if fail_after is not None and n >= fail_after:
                    raise ProviderTransientError(
                        "connection dropped mid-download (injected)", provider=context.provider
                    )
                seen.add(line["custom_id"])
                yield parse_result_line(line, context.provider, handle.model)
        for _, line in iter_jsonl(job.input_path):
            cid = line["custom_id"]
            if cid not in seen:
                yield RequestResult(
                    custom_id=cid,
                    status=ResultStatus.CANCELLED,
                    provider=context.provider,
                    model=handle.model,
                    error=RequestError(message="cancelled before it ran", code="batch_cancelled"),
                )

    @hookimpl
    def find_job(self, local_id: str, context: ProviderContext) -> BatchHandle | None:
        """The job tagged ``local_id``, if the service has one."""
        svc = _service(context)
        svc._enter("find_job")
        for job in list(svc.jobs.values()):
            if job.local_id == local_id:
                return BatchHandle(
                    provider=context.provider,
                    batch_id=job.id,
                    local_id=local_id,
                    model=job.model,
                    mode=job.mode,
                    request_count=job.request_count,
                    data={"input_path": str(job.input_path)},
                )
        return None

    @hookimpl
    def cancel(self, handle: BatchHandle, context: ProviderContext) -> BatchStatusReport:
        """Cancel the job."""
        svc = _service(context)
        svc._enter("cancel")
        return _report(svc, svc.cancel(handle.batch_id), context)


#: The plugin object the ``fake`` entry point loads.
plugin = FakeProvider()
