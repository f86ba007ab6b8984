"""``BatchRouter``: many batches across providers, in parallel, durably (seed 000, ARCHITECTURE §5).

Every batch becomes a *logical job* recorded in the :class:`~batch_router_core.ledger.Ledger`. A logical
job is one or more provider jobs: shards when a batch is over a provider's limits (with sharding on),
and later attempts when failed requests are re-run. The intent of every provider job is recorded
before the provider is called and each job is tagged with its local id, so :meth:`BatchRouter.resume`
can continue after a crash at any point without submitting anything twice.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from .crashpoints import crash_point
from .errors import (
    BatchTimeoutError,
    UnsupportedOperationError,
    ValidationError,
    ValidationIssue,
)
from .files import GeneratedFiles, iter_jsonl, new_local_id, write_jsonl_lines
from .handle import ProviderHandle
from .ledger import JobState, Ledger, LogicalJob, ProviderJob
from .logging import get_logger
from .models.enums import BatchStatus, ResultStatus
from .models.params import InferenceParams
from .models.provider import BatchHandle
from .models.requests import InputBatch, InputRequest
from .models.results import BatchStatusReport, RequestCounts, RequestError, RequestResult, UsageInfo
from .registry import BatchProviderRegistry
from .serialization import from_data, to_data
from .unified_io import read_requests, request_line, result_from_data, result_line

__all__ = ["BatchRouter", "JobStatus"]

_TERMINAL_ORDER = (BatchStatus.FAILED, BatchStatus.EXPIRED, BatchStatus.CANCELLED, BatchStatus.COMPLETED)


@attrs.frozen(kw_only=True)
class JobStatus:
    """A logical job's aggregate state: the least advanced of its provider jobs, summed counts."""

    job_id: str
    status: BatchStatus
    request_counts: RequestCounts
    provider_jobs: tuple[ProviderJob, ...]

    @property
    def is_terminal(self) -> bool:
        """True once every provider job of the job ended."""
        return self.status.is_terminal


def _aggregate(job_id: str, jobs: Sequence[ProviderJob]) -> JobStatus:
    statuses = [j.status or BatchStatus.VALIDATING for j in jobs]
    running = [s for s in statuses if not s.is_terminal]
    if running:
        status = min(running, key=lambda s: s.rank)
    else:
        status = next((s for s in _TERMINAL_ORDER if s in statuses), BatchStatus.COMPLETED)
        if all(s is BatchStatus.COMPLETED for s in statuses):
            status = BatchStatus.COMPLETED
    total = RequestCounts()
    for j in jobs:
        c = j.counts or RequestCounts(total=j.request_count, processing=j.request_count)
        total = RequestCounts(
            total=total.total + (c.total or j.request_count), processing=total.processing + c.processing,
            succeeded=total.succeeded + c.succeeded, errored=total.errored + c.errored,
            cancelled=total.cancelled + c.cancelled, expired=total.expired + c.expired,
        )
    return JobStatus(job_id=job_id, status=status, request_counts=total, provider_jobs=tuple(jobs))


class BatchRouter:
    """Run batches on any installed provider, many at once, with a durable ledger.

    :param registry: the provider registry (default: discover installed plugins).
    :param root: batch-router's working directory (generated files, ledger): ``./.batch_router``.
    :param ledger: a ledger to use instead of ``<root>/ledger.sqlite3``.
    :param initial_interval, multiplier, max_interval: polling backoff (seed 000: 60 s, ×1.5, 300 s).
    :param timeout: how long :meth:`wait_for_all` waits (24 h) before :class:`BatchTimeoutError`.
    :param shard: split over-limit batches into several provider jobs instead of refusing them.
    :param provider_options: per-provider options (``{"openai": {"base_url": ...}}``); secrets may
        go here, they are only handed to the provider plugins.
    :param default_options: options for providers without an entry in ``provider_options``.
    :param max_concurrent_submits: provider jobs created at once. Some APIs take a whole batch as one
        request body (Anthropic), so this bounds memory when a large batch is sharded.
    """

    def __init__(
        self,
        registry: BatchProviderRegistry | None = None,
        *,
        root: Path | str = ".batch_router",
        ledger: Ledger | None = None,
        initial_interval: float = 60.0,
        multiplier: float = 1.5,
        max_interval: float = 300.0,
        timeout: float = 86400.0,
        shard: bool = False,
        max_concurrent_submits: int = 4,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        default_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.root = Path(root)
        self.registry = registry or BatchProviderRegistry(files=GeneratedFiles(self.root))
        self.files = self.registry.files
        self.ledger = ledger or Ledger(self.root / "ledger.sqlite3")
        self.initial_interval = initial_interval
        self.multiplier = multiplier
        self.max_interval = max_interval
        self.timeout = timeout
        self.shard = shard
        self._submit_slots = asyncio.Semaphore(max(1, max_concurrent_submits))
        self._options = {k: dict(v) for k, v in (provider_options or {}).items()}
        self._default_options = dict(default_options or {})
        self._providers: dict[str, ProviderHandle] = {}
        self._log = get_logger("router")

    # -- providers -------------------------------------------------------------------------------

    def register_provider(self, name: str, **options: Any) -> ProviderHandle:
        """Use provider ``name`` with these options (API key, base URL...); replaces earlier ones."""
        handle = self.registry.get(name, **options)
        self._options[name] = dict(options)
        self._providers[name] = handle
        return handle

    def unregister_provider(self, name: str) -> None:
        """Forget a provider's options (discovered plugins stay available with default options)."""
        self._providers.pop(name, None)
        self._options.pop(name, None)

    def get_provider(self, name: str) -> ProviderHandle:
        """A provider handle; installed plugins are available without registering them."""
        handle = self._providers.get(str(name))
        if handle is None:
            handle = self.registry.get(str(name), **self._options.get(str(name), self._default_options))
            self._providers[str(name)] = handle
        return handle

    def list_providers(self) -> list[str]:
        """Every provider available: discovered plugins and registered ones."""
        return sorted(set(self.registry.names()) | set(self._providers))

    # -- validation ------------------------------------------------------------------------------

    def _validate_batches(self, batches: Sequence[InputBatch]) -> None:
        """Everything checkable before spending: providers, models, limits, content, unique ids."""
        issues: list[ValidationIssue] = []
        seen: dict[str, int] = {}
        for index, batch in enumerate(batches):
            provider = self.get_provider(batch.provider)  # ProviderNotFoundError names what is installed
            try:
                if self.shard:
                    for piece in self._count_shards(provider, batch):
                        provider.validate(piece)
                else:
                    provider.validate(batch)
            except ValidationError as exc:
                issues.extend(ValidationIssue(i.message, custom_id=i.custom_id,
                                              field=f"batches[{index}].{i.field}" if i.field else f"batches[{index}]")
                              for i in exc.issues)
            for req in batch.requests:
                first = seen.setdefault(req.custom_id, index)
                if first != index:
                    issues.append(ValidationIssue(
                        f"custom_id is used in batches #{first} and #{index}; ids must be unique "
                        "across the batches of one run", custom_id=req.custom_id, field="custom_id"))
        if issues:
            raise ValidationError(issues)

    @staticmethod
    def _count_shards(provider: ProviderHandle, batch: InputBatch) -> list[InputBatch]:
        limit = provider.info.limits.max_requests
        reqs = batch.requests
        if limit is None or len(reqs) <= limit:
            return [batch]
        return [InputBatch(requests=reqs[i:i + limit], params=batch.params)
                for i in range(0, len(reqs), limit)]

    # -- submitting ------------------------------------------------------------------------------

    def _write_shards(self, provider: ProviderHandle, batch: InputBatch) -> list[dict[str, Any]]:
        """Split (when sharding) and write each shard's unified and provider files. No network."""
        pieces = self._count_shards(provider, batch) if self.shard else [batch]
        shards: list[dict[str, Any]] = []
        queue = list(pieces)
        while queue:
            piece = queue.pop(0)
            local_id = new_local_id()
            try:
                prepared = provider.prepare(piece, local_id=local_id)
            except ValidationError as exc:
                too_big = any("would exceed" in i.message for i in exc.issues)
                if self.shard and too_big and len(piece.requests) > 1:
                    half = len(piece.requests) // 2
                    queue[:0] = [InputBatch(requests=piece.requests[:half], params=piece.params),
                                 InputBatch(requests=piece.requests[half:], params=piece.params)]
                    continue
                raise
            requests_path = self.files.path(provider.name, local_id, "requests")
            write_jsonl_lines(requests_path, (request_line(r) for r in piece.requests))
            shards.append({"local_id": local_id, "request_count": prepared.request_count,
                           "input_path": prepared.path, "requests_path": requests_path})
        return shards

    async def _send(self, job: ProviderJob) -> ProviderJob:
        """Create the provider job for a recorded intent (the input file exists)."""
        provider = self.get_provider(job.provider)
        from .models.provider import PreparedBatch

        prepared = PreparedBatch(
            provider=job.provider, local_id=job.local_id, model=job.model, mode=job.mode,
            path=job.input_path, request_count=job.request_count,
            byte_size=job.input_path.stat().st_size, metadata=self._prepared_metadata(job),
        )
        async with self._submit_slots:
            handle = await provider.submit(prepared)
        crash_point("after_create")
        return self.ledger.record_submitted(job.local_id, handle)

    def _prepared_metadata(self, job: ProviderJob) -> dict[str, Any]:
        # prepare_payloads' metadata (e.g. the endpoint) is rebuilt from one request of the shard:
        # cheap, and it keeps the ledger free of plugin-private data.
        first = next(read_requests(job.requests_path))
        logical = self.ledger.logical(job.logical_id)
        params = from_data(InferenceParams, logical.params)
        if job.model != params.model_id or job.provider != str(params.provider_id):
            params = attrs.evolve(params, provider_id=job.provider, model_id=job.model)
        batch = InputBatch(requests=(first,), params=params)
        return dict(self.get_provider(job.provider).prepare_payloads(batch).metadata)

    async def submit_batch(self, batch: InputBatch) -> str:
        """Validate, record and submit one batch; returns its logical job id (no waiting)."""
        return (await self.run_batches([batch], wait_for_completion=False))[0]

    async def run_batches(self, batches: Sequence[InputBatch], *, wait_for_completion: bool = True,
                          poll_interval: float | None = None, timeout: float | None = None) -> list[str]:
        """Validate everything, then send all batches in parallel; job ids in input order.

        Nothing is sent if any batch is invalid. With ``wait_for_completion`` the call returns once
        every job has ended.
        """
        self._validate_batches(batches)
        job_ids = []
        pending: list[ProviderJob] = []
        for batch in batches:
            provider = self.get_provider(batch.provider)
            shards = self._write_shards(provider, batch)
            job_id = f"job-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
            self.ledger.create_job(
                job_id=job_id, provider=provider.name, model=batch.model, mode=batch.mode,
                request_count=len(batch.requests), params=to_data(batch.configured_params),
                shards=shards,
            )
            job_ids.append(job_id)
            pending.extend(self.ledger.jobs_of(job_id))
            self._log.info("job_recorded", job_id=job_id, provider=provider.name,
                           shards=len(shards), requests=len(batch.requests))
        crash_point("after_intent")
        await asyncio.gather(*(self._send(job) for job in pending))
        if wait_for_completion:
            await self.wait_for_all(job_ids, poll_interval=poll_interval, timeout=timeout)
        return job_ids

    async def run_single_batch(self, batch: InputBatch, *, wait_for_completion: bool = True,
                               **kwargs: Any) -> str:
        """:meth:`run_batches` for one batch; returns its job id."""
        return (await self.run_batches([batch], wait_for_completion=wait_for_completion, **kwargs))[0]

    # -- status ----------------------------------------------------------------------------------

    async def _poll(self, job: ProviderJob) -> ProviderJob:
        if job.state is not JobState.SUBMITTED or job.handle is None:
            return job
        report = await self.get_provider(job.provider).poll_status(job.handle)
        return self.ledger.record_status(job.local_id, report)

    async def get_status(self, job_id: str) -> JobStatus:
        """Poll the job's running provider jobs and return its aggregate status."""
        jobs = await asyncio.gather(*(self._poll(j) for j in self.ledger.jobs_of(job_id)))
        return _aggregate(job_id, jobs)

    def recorded_status(self, job_id: str) -> JobStatus:
        """The job's status as last recorded in the ledger (no network)."""
        return _aggregate(job_id, self.ledger.jobs_of(job_id))

    async def get_all_statuses(self, job_ids: Iterable[str]) -> dict[str, JobStatus]:
        """:meth:`get_status` for several jobs, in parallel."""
        ids = list(job_ids)
        return dict(zip(ids, await asyncio.gather(*(self.get_status(i) for i in ids)), strict=True))

    async def wait_for_all(
        self, job_ids: Iterable[str], *, poll_interval: float | None = None,
        timeout: float | None = None, on_status: Callable[[JobStatus], None] | None = None,
    ) -> dict[str, JobStatus]:
        """Poll until every job ended, backing off (initial interval ×multiplier, capped).

        Raises :class:`BatchTimeoutError` if ``timeout`` passes first. A FAILED job is a status here,
        not an exception: its requests come back errored from :meth:`get_results`.
        """
        ids = list(job_ids)
        interval = self.initial_interval if poll_interval is None else poll_interval
        limit = self.timeout if timeout is None else timeout
        start = time.monotonic()
        while True:
            statuses = await self.get_all_statuses(ids)
            crash_point("polling")
            if on_status is not None:
                for st in statuses.values():
                    on_status(st)
            if all(s.is_terminal for s in statuses.values()):
                return statuses
            if time.monotonic() - start + interval > limit:
                raise BatchTimeoutError(",".join(i for i, s in statuses.items() if not s.is_terminal), limit)
            await asyncio.sleep(interval)
            interval = min(interval * self.multiplier, self.max_interval)

    # -- results ---------------------------------------------------------------------------------

    def _downloaded(self, job: ProviderJob) -> Path | None:
        if job.state is JobState.FETCHED and job.results_path is not None and job.results_path.exists():
            return job.results_path
        return None

    async def _download(self, job: ProviderJob) -> Path:
        """Results of one ended provider job, downloaded once into the generated directory."""
        path = self._downloaded(job)
        if path is None:
            async for _ in self._download_stream(job):
                pass
            path = self.ledger.job(job.local_id).results_path
            assert path is not None
        return path

    async def _results_of(self, job: ProviderJob) -> AsyncIterator[RequestResult]:
        """One provider job's results: from the local copy, or downloaded (and kept) as they stream."""
        path = self._downloaded(job)
        if path is None:
            async for result in self._download_stream(job):
                yield result
            return
        for _, data in iter_jsonl(path):
            yield result_from_data(data)

    async def _download_stream(self, job: ProviderJob) -> AsyncIterator[RequestResult]:
        """Download results, writing each to the local copy as it is yielded (no second parse)."""
        path = self.files.path(job.provider, job.local_id, "unified")
        for stale in path.parent.glob(f".{path.name}.*.part"):
            stale.unlink(missing_ok=True)  # a download a crashed process left half-written
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        tokens = [0, 0, 0, 0, 0, 0]  # summed as ints: a UsageInfo per addition costs per line
        any_usage = False
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                written = 0
                async for result in self._provider_results(job):
                    fh.write(result_line(result) + b"\n")
                    written += 1
                    u = result.usage
                    if u is not None:
                        tokens[0] += u.prompt_tokens
                        tokens[1] += u.completion_tokens
                        tokens[2] += u.total_tokens
                        tokens[3] += u.cached_tokens or 0
                        tokens[4] += u.cache_creation_tokens or 0
                        tokens[5] += u.reasoning_tokens or 0
                        any_usage = True
                    if written == max(1, job.request_count // 2):
                        fh.flush()
                        crash_point("download")
                    yield result
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # only a complete download ever has the final name
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        usage = UsageInfo(prompt_tokens=tokens[0], completion_tokens=tokens[1], total_tokens=tokens[2],
                          cached_tokens=tokens[3], cache_creation_tokens=tokens[4],
                          reasoning_tokens=tokens[5]) if any_usage else None
        self.ledger.record_results(job.local_id, path, usage)

    async def _provider_results(self, job: ProviderJob) -> AsyncIterator[RequestResult]:
        if job.handle is not None:
            async for r in self.get_provider(job.provider).fetch_results(job.handle):
                yield r
            return
        # Never created (cancelled before submission): every request is cancelled.
        for req in read_requests(job.requests_path):
            yield RequestResult(custom_id=req.custom_id, status=ResultStatus.CANCELLED,
                                provider=job.provider, model=job.model,
                                error=RequestError(message="cancelled before it was submitted",
                                                   code="batch_cancelled"))

    async def _ensure_ended(self, job_id: str) -> list[ProviderJob]:
        status = await self.get_status(job_id)
        if not status.is_terminal:
            raise UnsupportedOperationError(
                f"job {job_id} has not ended ({status.status.value}); wait for it first")
        return list(status.provider_jobs)

    async def get_results(self, job_id: str) -> AsyncIterator[RequestResult]:
        """Stream one job's results: one per request, the latest attempt winning after retries."""
        jobs = await self._ensure_ended(job_id)
        attempts = sorted({j.attempt for j in jobs}, reverse=True)
        if len(attempts) == 1:  # no retries: nothing can be superseded, so no id needs tracking
            for job in jobs:
                async for result in self._results_of(job):
                    yield result
            return
        superseded: set[str] = set()
        for attempt in attempts:
            this_round: set[str] = set()
            for job in jobs:
                if job.attempt != attempt:
                    continue
                async for result in self._results_of(job):
                    if result.custom_id in superseded:
                        continue
                    this_round.add(result.custom_id)
                    yield result
            superseded |= this_round

    async def get_all_results(self, job_ids: Iterable[str]) -> AsyncIterator[tuple[str, RequestResult]]:
        """Results of several jobs as ``(job_id, result)``, each job's as soon as it has ended."""
        ids = list(job_ids)

        async def ready(job_id: str) -> str:
            await self.wait_for_all([job_id])
            return job_id

        for finished in asyncio.as_completed([ready(i) for i in ids]):
            job_id = await finished
            async for result in self.get_results(job_id):
                yield job_id, result

    async def get_results_by_batch(self, job_ids: Iterable[str]) -> dict[str, list[RequestResult]]:
        """All results grouped by job (held in memory: prefer get_all_results for large jobs)."""
        out: dict[str, list[RequestResult]] = {i: [] for i in job_ids}
        async for job_id, result in self.get_all_results(list(out)):
            out[job_id].append(result)
        return out

    # -- cancellation ----------------------------------------------------------------------------

    async def cancel_batch(self, job_id: str) -> bool:
        """Cancel every running provider job of a job; True if anything was cancelled."""
        self.ledger.mark_cancelled(job_id)
        cancelled = False
        for job in self.ledger.jobs_of(job_id):
            provider = self.get_provider(job.provider)
            if job.state is JobState.PREPARED:
                found = await self._find(provider, job)
                if found is None:
                    now = datetime.now(timezone.utc)
                    self.ledger.record_status(job.local_id, BatchStatusReport(
                        provider=job.provider, batch_id="", status=BatchStatus.CANCELLED,
                        raw_status="never_submitted", created_at=now, ended_at=now,
                        request_counts=RequestCounts(total=job.request_count, cancelled=job.request_count)))
                    cancelled = True
                    continue
                job = found
            if job.state is JobState.SUBMITTED and job.handle is not None:
                report = await provider.poll_status(job.handle)
                if not report.is_terminal:
                    report = await provider.cancel(job.handle)
                    cancelled = True
                self.ledger.record_status(job.local_id, report)
        return cancelled

    async def cancel_all(self, job_ids: Iterable[str]) -> dict[str, bool]:
        """:meth:`cancel_batch` for several jobs, in parallel."""
        ids = list(job_ids)
        return dict(zip(ids, await asyncio.gather(*(self.cancel_batch(i) for i in ids)), strict=True))

    # -- recovery --------------------------------------------------------------------------------

    async def _find(self, provider: ProviderHandle, job: ProviderJob) -> ProviderJob | None:
        """For an intent without a recorded job id: the provider's job with that tag, if any."""
        found: BatchHandle | None = await provider.find_job(job.local_id, job.request_count)
        if found is None:
            return None
        # The ledger knows the shard better than a listing does (counts, the local input file).
        data = {**found.data, "input_path": str(job.input_path)}
        handle = attrs.evolve(found, request_count=job.request_count, model=found.model or job.model,
                              mode=job.mode, data=data)
        return self.ledger.record_submitted(job.local_id, handle)

    async def resume(self, *, wait: bool = True, poll_interval: float | None = None) -> list[str]:
        """Continue every unfinished job in the ledger after a crash; returns their job ids.

        A recorded intent whose job id was never recorded is looked up by its tag
        (``find_job``): found, it is adopted; certainly absent, it is submitted; on a provider that
        cannot look jobs up it is parked as NEEDS_ATTENTION rather than risk a double submission.
        With ``wait`` the call also waits for the jobs and downloads their results.
        """
        resumed: dict[str, None] = {}
        for job in self.ledger.unfinished():
            resumed[job.logical_id] = None
            logical = self.ledger.logical(job.logical_id)
            provider = self.get_provider(job.provider)
            if job.state is JobState.PREPARED:
                try:
                    found = await self._find(provider, job)
                except UnsupportedOperationError:
                    self.ledger.needs_attention(
                        job.local_id, f"{job.provider} cannot look jobs up: check its console for a "
                        f"job tagged {job.local_id} before re-running")
                    continue
                if found is None:
                    if logical.cancelled:
                        continue
                    self._log.info("resume_submit", local_id=job.local_id)
                    await self._send(job)
                else:
                    self._log.info("resume_adopted", local_id=job.local_id, batch_id=found.batch_id)
        ids = list(resumed)
        if wait and ids:
            await self.wait_for_all(ids, poll_interval=poll_interval)
            for job_id in ids:
                for job in self.ledger.jobs_of(job_id):
                    if job.state is JobState.ENDED or (job.state is JobState.FETCHED and not (
                            job.results_path and job.results_path.exists())):
                        await self._download(job)
        return ids

    # -- re-running failures ---------------------------------------------------------------------

    async def retry_failed(self, job_id: str, *, provider: str | None = None, model: str | None = None,
                           wait_for_completion: bool = False) -> list[str]:
        """Re-submit only the requests that errored or expired, optionally elsewhere.

        The new provider jobs join the same logical job as a later attempt; :meth:`get_results` then
        returns their outcomes in place of the failed ones. Returns the retried custom_ids.
        """
        failed: set[str] = set()
        async for result in self.get_results(job_id):
            if result.status in (ResultStatus.ERRORED, ResultStatus.EXPIRED):
                failed.add(result.custom_id)
        if not failed:
            return []
        logical: LogicalJob = self.ledger.logical(job_id)
        params = from_data(InferenceParams, logical.params)
        if provider is not None or model is not None:
            params = attrs.evolve(params, provider_id=provider or params.provider_id,
                                  model_id=model or params.model_id)
        requests: list[InputRequest] = []
        for job in self.ledger.jobs_of(job_id):
            requests.extend(r for r in read_requests(job.requests_path) if r.custom_id in failed)
            failed -= {r.custom_id for r in requests}
        batch = InputBatch(requests=tuple(requests), params=params)
        handle = self.get_provider(batch.provider)
        self._validate_batches([batch])
        attempt = 1 + max(j.attempt for j in self.ledger.jobs_of(job_id))
        shards = self._write_shards(handle, batch)
        jobs = self.ledger.add_attempt(logical_id=job_id, provider=handle.name, model=batch.model,
                                       mode=batch.mode, attempt=attempt, shards=shards)
        await asyncio.gather(*(self._send(j) for j in jobs))
        if wait_for_completion:
            await self.wait_for_all([job_id])
        return [r.custom_id for r in requests]
