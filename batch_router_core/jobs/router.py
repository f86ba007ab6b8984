"""``BatchRouter``: many batches across providers, in parallel, durably.

Every batch becomes a *logical job* recorded in the :class:`~batch_router_core.jobs.ledger.Ledger`.
A logical job is one or more provider jobs: shards when a batch is over a provider's limits (with
sharding on), and later attempts when failed requests are re-run. The intent of every provider job
is recorded before the provider is called and each job is tagged with its local id. Every provider
call for a provider job is made by the one process holding the ledger's claim on it, so
:meth:`BatchRouter.resume` (or any number of them, beside a live run) can continue after a crash at
any point without submitting anything twice. ``docs/reliability.md`` describes the lifecycle and
what each failure leaves behind.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

import attrs

from batch_router_core.cost.estimate import DEFAULT_EXPECTED_OUTPUT, CostEstimate, check_cost_cap
from batch_router_core.errors import (
    BatchRouterError,
    BatchTimeoutError,
    ConfigError,
    JobFilesMissingError,
    ProviderPermanentError,
    ProviderTransientError,
    ValidationError,
    ValidationIssue,
)
from batch_router_core.files import (
    GeneratedFiles,
    default_state_dir,
    iter_jsonl,
)
from batch_router_core.formats.unified import (
    read_requests,
    result_from_data,
    result_line,
)
from batch_router_core.jobs.claims import Claimant, owner_is_dead
from batch_router_core.jobs.downloads import (
    UsageTotals,
    request_metadata,
    unsent_results,
    with_metadata,
    write_local_copy,
)
from batch_router_core.jobs.ledger import (
    ClaimLostError,
    JobState,
    Ledger,
    LedgerError,
    LogicalJob,
    ProviderJob,
)
from batch_router_core.jobs.ledgers import default_ledger_location, open_ledger
from batch_router_core.jobs.outputs import OutputCheck
from batch_router_core.jobs.recovery import Reconciler
from batch_router_core.jobs.shards import (
    estimate_batch,
    remove_shard_files,
    validate_batches,
    write_request_stream,
    write_shards,
)
from batch_router_core.jobs.status import (
    JobNeedsAttentionError,
    JobNotEndedError,
    JobStatus,
    aggregate,
)
from batch_router_core.logging import get_logger, storable_options
from batch_router_core.models.enums import BatchStatus, ResultStatus
from batch_router_core.models.params import InferenceParams
from batch_router_core.models.provider import PreparedBatch
from batch_router_core.models.requests import InputBatch, InputRequest
from batch_router_core.models.results import (
    BatchStatusReport,
    RequestCounts,
    RequestResult,
)
from batch_router_core.models.schema import output_schema
from batch_router_core.plugin.crashpoints import crash_point
from batch_router_core.registry import BatchProviderRegistry
from batch_router_core.registry.handle import ProviderHandle
from batch_router_core.serialization import from_data, to_data

__all__ = ["BatchRouter", "JobNeedsAttentionError", "JobStatus", "LEASE_ENV", "WorkRound"]

#: Environment variable overriding the claim lease (seconds) of routers that do not set one.
LEASE_ENV = "BATCH_ROUTER_LEASE_S"


class _Goal(Enum):
    """How far a drive moves provider jobs."""

    SUBMITTED = "submitted"
    ENDED = "ended"
    FETCHED = "fetched"


#: A provider job's own files, as the generated directory names them.
_JOB_FILES = ("input", "requests")


@attrs.frozen
class WorkRound:
    """What one round of :meth:`BatchRouter.work` saw, for a worker's log and metrics."""

    #: rounds so far, this one included
    number: int
    #: provider jobs in the ledger not finished after the round (every worker's)
    unfinished: int
    #: provider jobs this worker holds a claim on
    held: int
    #: provider jobs left alone this round (another try later: no key, plugin missing, refused)
    skipped: int


class BatchRouter:
    """Run batches on any installed provider, many at once, with a durable ledger.

    :param registry: the provider registry (default: discover installed plugins).
    :param root: the state directory (ledger, generated files); default
        :func:`~batch_router_core.files.default_state_dir` (``$BATCH_ROUTER_STATE_DIR``, else a
        per-user directory).
    :param ledger: the ledger, or where it is: a ``postgresql://`` URL (shared by processes on
        many machines) or a SQLite file; default ``$BATCH_ROUTER_LEDGER``, else
        ``<root>/ledger.sqlite3``.
    :param initial_interval: the first polling interval (60 s).
    :param multiplier: how much longer each next interval is (×1.5).
    :param max_interval: the longest interval (300 s).
    :param timeout: how long :meth:`wait_for_all` waits (24 h) before :class:`BatchTimeoutError`.
    :param shard: split over-limit batches into several provider jobs instead of refusing them.
    :param provider_options: per-provider options (``{"openai": {"base_url": ...}}``); secrets may
        go here, they are only handed to the provider plugins.
    :param default_options: options for providers without an entry in ``provider_options``.
    :param max_concurrent_submits: provider jobs created at once. Some APIs take a whole batch as
    one
        request body (Anthropic), so this bounds memory when a large batch is sharded.
    :param lease_s: how long a claim on a provider job lasts unless renewed (a heartbeat renews it
        every third of that while this router works); default 120 s or ``$BATCH_ROUTER_LEASE_S``.
    :param on_notice: called with a one-line message whenever a provider call is being retried or a
        job is refused, parked or under verification (the CLI prints these).
    """

    def __init__(
        self,
        registry: BatchProviderRegistry | None = None,
        *,
        root: Path | str | None = None,
        ledger: Ledger | str | Path | None = None,
        initial_interval: float = 60.0,
        multiplier: float = 1.5,
        max_interval: float = 300.0,
        timeout: float = 86400.0,
        shard: bool = False,
        max_concurrent_submits: int = 4,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        default_options: Mapping[str, Any] | None = None,
        lease_s: float | None = None,
        on_notice: Callable[[str], None] | None = None,
        max_cost: float | None = None,
        expected_output_tokens: int = DEFAULT_EXPECTED_OUTPUT,
    ) -> None:
        self.root = Path(root) if root is not None else default_state_dir()
        self.registry = registry or BatchProviderRegistry(files=GeneratedFiles(self.root))
        self.files = self.registry.files
        self._ledger = ledger if isinstance(ledger, Ledger) else None
        self._ledger_location = ledger if not isinstance(ledger, Ledger) else None
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
        self.owner = Claimant.current().id
        self._reconciler: Reconciler | None = None
        self.lease_s = float(lease_s if lease_s is not None else os.environ.get(LEASE_ENV, 120.0))
        self.on_notice = on_notice
        #: refuse, before anything is recorded or sent, a call whose jobs' upper-bound cost
        #: estimate is over this many USD (:class:`CostLimitError`)
        self.max_cost = max_cost
        #: output tokens expected of a request in cost estimates (capped by its max tokens)
        self.expected_output_tokens = expected_output_tokens
        #: the logical job ids recorded by the latest :meth:`run_batches` (known even if it is
        #: interrupted)
        self.recorded_job_ids: list[str] = []
        #: job id -> cost estimate of the jobs the latest call recorded (or refused)
        self.last_estimates: dict[str, CostEstimate | None] = {}
        self._held: set[str] = set()
        #: when the current wait polls again (``time.monotonic()``), for progress displays
        self.next_poll_at: float | None = None
        #: provider jobs held back this round for want of capacity (jobs or tokens in flight)
        self._paced: set[str] = set()
        #: (provider, model) -> jobs in flight when the provider last said its queue was full
        self._learned_slots: dict[tuple[str, str], int] = {}
        self._hold_until: dict[str, float] = {}
        self._active = 0  # operations in progress; claims are given back when the last one ends
        self._heartbeat: asyncio.Task[None] | None = None
        self._ledger_failure: LedgerError | None = None
        self._retries: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._cancel_sent: set[str] = set()
        self._blocked: dict[str, BatchRouterError] = {}
        self._stored_options: dict[str, tuple[str, dict[str, Any]]] = {}
        self._job_providers: dict[tuple[str, tuple[tuple[str, str], ...]], ProviderHandle] = {}
        #: how often a worker looks for webhook deliveries recorded in the ledger (seconds)
        self.webhook_check_s = 0.5

    @property
    def ledger(self) -> Ledger:
        """The ledger given, or at the location given, else ``$BATCH_ROUTER_LEDGER``, else
        ``<root>/ledger.sqlite3``; opened (or created) on first use, so that a batch refused by
        validation leaves no file behind."""
        if self._ledger is None:
            location = self._ledger_location or default_ledger_location(self.root)
            self._ledger = open_ledger(location)
        return self._ledger

    def _recovery(self) -> Reconciler:
        if self._reconciler is None:
            self._reconciler = Reconciler(self.ledger, self.owner, self._notice, self._log)
        return self._reconciler

    # -- providers -------------------------------------------------------------------------------

    def register_provider(self, name: str, **options: Any) -> ProviderHandle:
        """Use provider ``name`` with these options (API key, base URL...); replaces earlier
        ones."""
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
            handle = self.registry.get(
                str(name), **self._options.get(str(name), self._default_options)
            )
            self._providers[str(name)] = handle
        return handle

    def _given_options(self, name: str) -> dict[str, Any]:
        return dict(self._options.get(str(name), self._default_options))

    def provider_for_job(self, job: ProviderJob) -> ProviderHandle:
        """The provider handle that works on a recorded provider job (see :meth:`_provider_for`)."""
        return self._provider_for(job)

    def _provider_for(self, job: ProviderJob) -> ProviderHandle:
        """The provider handle for a recorded job: the options it was created with (secrets
        excepted,
        they were never stored) under the ones given to this router, which win."""
        known = self._stored_options.get(job.logical_id)
        if known is None:
            logical = self.ledger.logical(job.logical_id)
            known = self._stored_options[job.logical_id] = (logical.provider, logical.options)
        # A retry on another provider is not given the first provider's base URL.
        stored = known[1] if known[0] == job.provider else {}
        given = self._given_options(job.provider)
        if all(k in given for k in stored):
            return self.get_provider(job.provider)
        merged = {**stored, **given}
        key = (job.provider, tuple(sorted((k, repr(v)) for k, v in merged.items())))
        handle = self._job_providers.get(key)
        if handle is None:
            handle = self._job_providers[key] = self.registry.get(job.provider, **merged)
        return handle

    def list_providers(self) -> list[str]:
        """Every provider available: discovered plugins and registered ones."""
        return sorted(set(self.registry.names()) | set(self._providers))

    # -- validation ------------------------------------------------------------------------------

    def validate(self, batches: Sequence[InputBatch]) -> None:
        """Everything checkable before spending: providers, models, limits, content, unique ids
        within each batch (sharded as this router would shard them); raises
        :class:`ValidationError` with every problem. A custom_id may repeat across batches: the
        same batch can run on two providers at once."""
        self._validate_batches(batches)

    def _validate_batches(self, batches: Sequence[InputBatch]) -> None:
        validate_batches(self.get_provider, batches, shard=self.shard)

    # -- recording ------------------------------------------------------------------------------

    def _local(self, job: ProviderJob) -> ProviderJob:
        """``job`` with its input and request files on this machine: where they were recorded, or
        else restored from the ledger's copy (a shared ledger keeps one) into this state
        directory. A job whose files are nowhere to be read is a :class:`JobFilesMissingError`
        naming them."""
        if job.input_path.exists() and job.requests_path.exists():
            return job
        here = {kind: self.files.path(job.provider, job.local_id, kind) for kind in _JOB_FILES}
        for kind, path in here.items():
            if not path.exists() and not self.ledger.restore_file(job.local_id, kind, path):
                raise JobFilesMissingError(
                    f"the {kind} file of provider job {job.local_id} is not on this machine and "
                    f"the ledger at {self.ledger.location} keeps no copy: work it where it was "
                    "recorded, or share the state directory (a PostgreSQL ledger keeps copies "
                    "of the jobs recorded on it)",
                    path=str(job.input_path if kind == "input" else job.requests_path),
                )
        handle = job.handle
        if handle is not None and handle.data.get("input_path") == str(job.input_path):
            # Plugins read the input back through their handle (Gemini's inline request keys).
            handle = attrs.evolve(handle, data={**handle.data, "input_path": str(here["input"])})
        return attrs.evolve(
            job, input_path=here["input"], requests_path=here["requests"], handle=handle
        )

    def _prepared(self, job: ProviderJob) -> PreparedBatch:
        """The prepared batch of a held job whose files are on this machine (:meth:`_local`)."""
        return PreparedBatch(
            provider=job.provider,
            local_id=job.local_id,
            model=job.model,
            mode=job.mode,
            path=job.input_path,
            request_count=job.request_count,
            byte_size=job.input_path.stat().st_size,
            metadata=self._prepared_metadata(job),
            resubmission=job.state is JobState.SUBMITTING,
            estimated_cost=(job.estimate or {}).get("cost_max"),
        )

    def _prepared_metadata(self, job: ProviderJob) -> dict[str, Any]:
        # prepare_payloads' metadata (e.g. the endpoint) is rebuilt from one request of the shard:
        # cheap, and it keeps the ledger free of plugin-private data.
        first = next(read_requests(job.requests_path))
        logical = self.ledger.logical(job.logical_id)
        params = from_data(InferenceParams, logical.params)
        if job.model != params.model_id or job.provider != str(params.provider_id):
            params = attrs.evolve(params, provider_id=job.provider, model_id=job.model)
        batch = InputBatch(requests=(first,), params=params)
        return dict(self._provider_for(job).prepare_payloads(batch).metadata)

    async def submit_batch(self, batch: InputBatch) -> str:
        """Validate, record and submit one batch; returns its logical job id (no waiting)."""
        return (await self.run_batches([batch], wait_for_completion=False))[0]

    async def run_batches(
        self,
        batches: Sequence[InputBatch],
        *,
        wait_for_completion: bool = True,
        poll_interval: float | None = None,
        timeout: float | None = None,
    ) -> list[str]:
        """Validate everything, record it, then send all batches in parallel; job ids in input
        order.

        Nothing is recorded or sent if any batch is invalid, including the provider's own checks of
        every shard: the intent of every job is recorded in one transaction, after all of them were
        prepared. Transient provider errors while submitting are retried inside the call (an
        ambiguous create is reconciled before it is repeated). With ``wait_for_completion`` the call
        returns once every job has ended.
        """
        self._validate_batches(batches)
        for name in dict.fromkeys(b.provider for b in batches):
            self.get_provider(name).check_credentials()
        records: list[dict[str, Any]] = []
        try:
            for batch in batches:
                provider = self.get_provider(batch.provider)
                shards = write_shards(
                    provider,
                    batch,
                    self.files,
                    shard=self.shard,
                    validated=True,
                    expected_output=self.expected_output_tokens,
                )
                records.append(self._job_record(provider, batch.configured_params, shards))
            self._check_cost(records)
            self.ledger.create_jobs(records, owner=self.owner, lease_s=self.lease_s)
        except BaseException:
            for record in records:
                remove_shard_files(record["shards"])
            raise
        job_ids = [r["job_id"] for r in records]
        self.recorded_job_ids = list(job_ids)
        async with self._working():
            await self._send_recorded(
                records, poll_interval=poll_interval, timeout=timeout, wait=wait_for_completion
            )
        return job_ids

    async def submit_requests(
        self,
        requests: Iterable[InputRequest],
        params: InferenceParams,
        *,
        issues: list[ValidationIssue] | None = None,
        wait_for_completion: bool = False,
        timeout: float | None = None,
        send: bool = True,
    ) -> str:
        """Validate, record and submit a stream of requests as one job; returns its id.

        With ``send=False`` the job is only recorded (validated, its files written): workers
        (:meth:`work`, ``batch-router worker``) sharing the ledger create and run it.

        For inputs too large to hold: ``requests`` may be a generator over a file
        (:func:`~batch_router_core.formats.unified.read_input`), read one shard at a time (with
        ``shard``) and never held whole. As with :meth:`run_batches`, nothing is recorded or sent
        unless every request is valid: problems are collected over the whole stream, after those
        already in ``issues``, and raised together.
        """
        if params.provider_id is None or params.model_id is None:
            raise ValidationError("params must name provider_id and model_id", field="params")
        provider = self.get_provider(str(params.provider_id))
        provider.check_credentials()
        shards = write_request_stream(
            provider,
            requests,
            params,
            self.files,
            shard=self.shard,
            issues=issues,
            expected_output=self.expected_output_tokens,
        )
        record = self._job_record(provider, params, shards)
        try:
            self._check_cost([record])
            # Claimed from the start by the process that sends it; unclaimed for the workers.
            owner = self.owner if send else None
            self.ledger.create_jobs([record], owner=owner, lease_s=self.lease_s)
        except BaseException:
            remove_shard_files(shards)
            raise
        self.recorded_job_ids = [record["job_id"]]
        if not send:
            self._log.info("job_recorded", job_id=record["job_id"], shards=len(shards))
            return str(record["job_id"])
        async with self._working():
            await self._send_recorded(
                [record], poll_interval=None, timeout=timeout, wait=wait_for_completion
            )
        return str(record["job_id"])

    def estimate(self, batches: Sequence[InputBatch]) -> list[CostEstimate]:
        """What each batch would cost (tokens counted, priced at its model's batch rates), as
        :meth:`run_batches` would estimate it; writes nothing, sends nothing."""
        return [
            estimate_batch(self.get_provider(b.provider), b, self.expected_output_tokens)
            for b in batches
        ]

    def _check_cost(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Refuse the jobs about to be recorded when their cost could exceed ``max_cost``."""
        self.last_estimates = {r["job_id"]: r["estimate"] for r in records}
        cap = self.max_cost
        if cap is None or not records:
            return
        check_cost_cap(CostEstimate.total(r["estimate"] for r in records), cap)

    def _job_record(
        self, provider: ProviderHandle, params: InferenceParams, shards: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """What the ledger records of a new job, before anything is sent."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        return {
            "estimate": CostEstimate.total(s.get("estimate") for s in shards),
            "job_id": f"job-{stamp}-{secrets.token_hex(4)}",
            "provider": provider.name,
            "model": str(params.model_id),
            "mode": params.mode,
            "request_count": sum(int(s["request_count"]) for s in shards),
            "params": to_data(params),
            "shards": shards,
            "options": storable_options(self._given_options(provider.name)),
        }

    async def _send_recorded(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        poll_interval: float | None,
        timeout: float | None,
        wait: bool,
    ) -> None:
        job_ids = [r["job_id"] for r in records]
        for record in records:
            self._held.update(s["local_id"] for s in record["shards"])
            self._log.info(
                "job_recorded",
                job_id=record["job_id"],
                provider=record["provider"],
                shards=len(record["shards"]),
                requests=record["request_count"],
            )
        self._ensure_heartbeat()
        crash_point("after_intent")
        await self._drive(job_ids, until=_Goal.SUBMITTED, timeout=timeout)
        if wait:
            await self.wait_for_all(job_ids, poll_interval=poll_interval, timeout=timeout)

    async def run(
        self,
        batch: InputBatch,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
    ) -> list[RequestResult]:
        """Run one configured batch to its end and return every request's result, in the
        batch's order: the one call for a job whose results fit in memory.

        Errored, expired and cancelled requests are results too (``status`` and ``error`` say
        so); a job that failed as a whole still returns a result per request. For a job too
        large to hold, use :meth:`run_batches` and stream :meth:`get_results`. From synchronous
        code (a script, a notebook cell) use :meth:`run_sync`.
        """
        job_id = await self.run_single_batch(batch, poll_interval=poll_interval, timeout=timeout)
        order = {r.custom_id: i for i, r in enumerate(batch.requests)}
        results = [r async for r in self.get_results(job_id)]
        results.sort(key=lambda r: order.get(r.custom_id, len(order)))
        return results

    def run_sync(
        self,
        batch: InputBatch,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
    ) -> list[RequestResult]:
        """:meth:`run` from synchronous code, including inside a running event loop (a notebook
        cell): it then runs on a loop of its own in a worker thread while the caller waits."""
        from batch_router_core.jobs.blocking import run_blocking

        return run_blocking(self.run(batch, poll_interval=poll_interval, timeout=timeout))

    async def run_single_batch(
        self, batch: InputBatch, *, wait_for_completion: bool = True, **kwargs: Any
    ) -> str:
        """:meth:`run_batches` for one batch; returns its job id."""
        return (await self.run_batches([batch], wait_for_completion=wait_for_completion, **kwargs))[
            0
        ]

    # -- claims ----------------------------------------------------------------------------------

    def _claim(self, job: ProviderJob) -> ProviderJob | None:
        """Hold ``job`` (claimed now, or already held); None while another live process holds it."""
        got = self.ledger.claim(job.local_id, self.owner, self.lease_s)
        if got is None:
            self._held.discard(job.local_id)
            return None
        self._held.add(job.local_id)
        self._ensure_heartbeat()
        return got

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    @asynccontextmanager
    async def _working(self) -> AsyncIterator[None]:
        """Scope of an operation that claims jobs: when the last one ends, every claim is given
        back and the heartbeat stops (claims are held only while this router works on the jobs)."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                if self._heartbeat is not None and not self._heartbeat.done():
                    self._heartbeat.cancel()
                self._heartbeat = None
                self.release_claims()

    async def _beat(self) -> None:
        """Renew this process's claims while it works (given back by :meth:`_working`)."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                self.ledger.check_present()
                still = self.ledger.renew(self.owner, self.lease_s)
            except LedgerError as exc:
                self._ledger_failure = exc
                return
            lost = self._held - still
            if lost:
                self._log.error("claims_lost", local_ids=sorted(lost))
                self._held -= lost

    def release_claims(self) -> None:
        """Give back every claim this router holds (other processes may take the jobs at once).

        By owner id, not by what this object remembers: an interruption (SIGTERM) can land between a
        claim's commit and its being remembered.
        """
        try:
            self.ledger.release(self.owner)
        except LedgerError as exc:  # the lease runs out anyway; say why it was not given back
            self._log.warning("claims_not_released", error=str(exc))
        self._held.clear()

    # -- driving jobs through their lifecycle ----------------------------------------------------

    def _settled(self, job: ProviderJob, goal: _Goal) -> bool:
        if (
            job.state in (JobState.FAILED, JobState.NEEDS_ATTENTION)
            or job.local_id in self._blocked
        ):
            return True
        if job.state is JobState.FETCHED:
            return goal is not _Goal.FETCHED or self._downloaded(job) is not None
        if goal is _Goal.SUBMITTED:
            # A shard waiting for capacity is sent by whoever waits for the job (wait, run, resume).
            return job.state in (JobState.SUBMITTED, JobState.ENDED) or job.local_id in self._paced
        if goal is _Goal.ENDED:
            return job.state is JobState.ENDED
        return False

    async def _drive(
        self,
        job_ids: Sequence[str],
        *,
        until: _Goal,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_status: Callable[[JobStatus], None] | None = None,
    ) -> dict[str, JobStatus]:
        """Move every provider job of these jobs on until each reached ``until`` (or a final state).

        Each round claims what it can, then takes one step for every held job (create, reconcile,
        poll or download); jobs held by another live process are only watched through the ledger,
        and taken over if that process dies. Transient provider errors never end the drive: the job
        is retried on a later round, with the user told why, until ``timeout`` runs out.
        """
        async with self._working():
            return await self._drive_rounds(job_ids, until, timeout, poll_interval, on_status)

    async def _drive_rounds(
        self,
        job_ids: Sequence[str],
        until: _Goal,
        timeout: float | None,
        poll_interval: float | None,
        on_status: Callable[[JobStatus], None] | None,
    ) -> dict[str, JobStatus]:
        interval = self.initial_interval if poll_interval is None else poll_interval
        limit = self.timeout if timeout is None else timeout
        if interval < 0 or limit <= 0:
            raise ConfigError(
                f"the polling interval ({interval} s) must not be negative and the timeout "
                f"({limit} s) must be positive"
            )
        self._known(job_ids)
        start = time.monotonic()
        # A missing key is a configuration error here, before any job is touched (never "failed").
        unsettled = [
            j
            for job_id in job_ids
            for j in self.ledger.jobs_of(job_id)
            if not self._settled(j, until)
        ]
        for handle in {id(h): h for h in map(self._provider_for, unsettled)}.values():
            handle.check_credentials()
        while True:
            jobs = await self._round(job_ids, until)
            statuses = {job_id: aggregate(job_id, group) for job_id, group in jobs.items()}
            if on_status is not None:
                for st in statuses.values():
                    on_status(st)
            if all(self._settled(j, until) for group in jobs.values() for j in group):
                for group in jobs.values():
                    self._let_go(j for j in group if j.state.is_final)
                blocked = [
                    self._blocked.pop(j.local_id)
                    for g in jobs.values()
                    for j in g
                    if j.local_id in self._blocked
                ]
                if blocked:
                    raise blocked[0]
                return statuses
            elapsed = time.monotonic() - start
            if elapsed >= limit:
                raise BatchTimeoutError(
                    ",".join(i for i, s in statuses.items() if not s.is_terminal), limit
                )
            pause = interval
            due = [
                t - time.monotonic() for t in (*self._retry_at.values(), *self._hold_until.values())
            ]
            if due:
                pause = min(pause, max(0.0, min(due)))
            pause = max(0.0, min(pause, limit - elapsed))
            self.next_poll_at = time.monotonic() + pause
            await asyncio.sleep(pause)
            self.next_poll_at = None
            interval = min(interval * self.multiplier, self.max_interval)

    async def _round(self, job_ids: Sequence[str], until: _Goal) -> dict[str, list[ProviderJob]]:
        """One round over these jobs: claim what can be claimed and take one step for each held
        provider job not yet at ``until`` (creations paced by the capacity in flight). Returns the
        jobs as recorded after the round."""
        if self._ledger_failure is not None:
            raise self._ledger_failure
        jobs = {job_id: self.ledger.jobs_of(job_id) for job_id in job_ids}
        steps = []
        admitted: dict[tuple[str, str], tuple[int, int]] = {}
        self._paced.clear()
        for group in jobs.values():
            for job in group:
                now = time.monotonic()
                if (
                    self._settled(job, until)
                    or self._retry_at.get(job.local_id, 0.0) > now
                    or self._hold_until.get(job.local_id, 0.0) > now
                ):
                    continue
                if self._held_by_another(job):
                    # As recorded: no write transaction just to hear "no" (the claim would say).
                    self._held.discard(job.local_id)
                    continue
                if job.state is JobState.PREPARED and not self._admits(job, admitted):
                    self._paced.add(job.local_id)
                    continue
                held = self._claim(job)
                if held is not None:
                    steps.append(self._step(held, until))
        if steps:
            await asyncio.gather(*steps)
            jobs = {job_id: self.ledger.jobs_of(job_id) for job_id in job_ids}
        return jobs

    def _held_by_another(self, job: ProviderJob) -> bool:
        """Whether the record says another live process holds ``job`` (a lease not run out, an
        owner not known dead): claiming it would be refused. The claim itself still decides."""
        owner = job.owner
        return (
            owner is not None
            and owner != self.owner
            and (job.lease_until or 0.0) > time.time()
            and not owner_is_dead(owner)
        )

    def _admits(self, job: ProviderJob, admitted: dict[tuple[str, str], tuple[int, int]]) -> bool:
        """Whether a never-sent provider job may be created now: its model's jobs in flight (in
        the whole ledger, and admitted earlier this round) leave room under the provider's
        ``max_jobs_in_flight`` and ``max_enqueued_tokens``, and under what the provider's last
        "queue full" taught. With nothing in flight there is always room."""
        key = (job.provider, job.model)
        count, tokens = self.ledger.in_flight(*key)
        extra_count, extra_tokens = admitted.get(key, (0, 0))
        count, tokens = count + extra_count, tokens + extra_tokens
        if count:
            limits = self._provider_for(job).info.limits
            slots = [n for n in (limits.max_jobs_in_flight, self._learned_slots.get(key)) if n]
            budget = limits.enqueued_tokens_for(job.model)
            if (slots and count >= min(slots)) or (
                budget is not None and tokens + job.est_tokens > budget
            ):
                return False
        admitted[key] = (extra_count + 1, extra_tokens + job.est_tokens)
        return True

    def _let_go(self, jobs: Iterable[ProviderJob]) -> None:
        """Release the claims on jobs that reached a final state."""
        done = [j.local_id for j in jobs if j.local_id in self._held]
        if done:
            self.ledger.release(self.owner, done)
            self._held.difference_update(done)

    async def _step(self, job: ProviderJob, until: _Goal) -> None:
        """One step of a held job; transient failures are noted and retried on a later round."""
        provider = self._provider_for(job)
        try:
            if job.state in (JobState.PREPARED, JobState.SUBMITTING):
                await self._submit_step(provider, job)
            elif job.state is JobState.SUBMITTED:
                await self._poll_step(provider, job)
            elif until is _Goal.FETCHED and job.state in (JobState.ENDED, JobState.FETCHED):
                await self._download(job)
            self._retries.pop(job.local_id, None)
            self._retry_at.pop(job.local_id, None)
        except ClaimLostError as exc:
            self._held.discard(job.local_id)
            self._log.warning("claim_lost", local_id=job.local_id, error=str(exc))
        except (ProviderPermanentError, JobFilesMissingError) as exc:
            # Polling or downloading this job was refused (a revoked key, a job deleted at the
            # provider), or its files are on another machine: the job stays as it is for a later
            # resume (or another worker), and the other jobs go on.
            self._blocked[job.local_id] = exc
            self._notice(f"{job.provider} {job.state.value} {job.local_id}: {exc}; left for later")
        except ProviderTransientError as exc:
            attempt = self._retries.get(job.local_id, 0) + 1
            self._retries[job.local_id] = attempt
            delay = self.registry.retry.delay_for(attempt, exc)
            self._retry_at[job.local_id] = time.monotonic() + delay
            self._notice(
                f"{job.provider} {job.state.value} {job.local_id}: {exc}; retrying "
                f"(attempt {attempt + 1}) in {delay:.1f}s"
            )

    def _notice(self, message: str) -> None:
        self._log.warning("retrying", message=message)
        if self.on_notice is not None:
            self.on_notice(message)

    async def _submit_step(self, provider: ProviderHandle, job: ProviderJob) -> None:
        """Create the provider job of a held intent, reconciling first if a create may have
        landed."""
        logical = self.ledger.logical(job.logical_id)
        job = self._local(job)
        if job.state is JobState.SUBMITTING:
            if await self._recovery().reconcile(provider, job):
                return
        if logical.cancelled:
            now = datetime.now(timezone.utc)
            self.ledger.record_status(
                job.local_id,
                BatchStatusReport(
                    provider=job.provider,
                    batch_id="",
                    status=BatchStatus.CANCELLED,
                    raw_status="never_submitted",
                    created_at=now,
                    ended_at=now,
                    request_counts=RequestCounts(
                        total=job.request_count, cancelled=job.request_count
                    ),
                ),
                owner=self.owner,
            )
            return
        prepared = self._prepared(job)
        try:
            async with self._submit_slots:
                # Written before the first call that may create the job: after a crash from here on,
                # the next claimant looks the job up before creating it again.
                limits = provider.info.limits
                slots = [
                    n
                    for n in (
                        limits.max_jobs_in_flight,
                        self._learned_slots.get((job.provider, job.model)),
                    )
                    if n
                ]
                started = self.ledger.begin_submit(
                    job.local_id,
                    self.owner,
                    max_jobs=min(slots) if slots else None,
                    max_tokens=limits.enqueued_tokens_for(job.model),
                )
                if started is None:  # another process took the room first: wait for it
                    self._paced.add(job.local_id)
                    return
                handle = await provider.submit(prepared)
        except ProviderTransientError as exc:
            if exc.status_code == 429:
                # A refusal: nothing was created, so the next try need not reconcile.
                self.ledger.back_to_intent(job.local_id, self.owner)
            raise
        except ProviderPermanentError as exc:
            self.ledger.record_refused(job.local_id, str(exc), self.owner)
            self._notice(f"{job.provider} refused to create {job.local_id}: {exc}")
            return
        crash_point("after_create")
        self.ledger.record_submitted(job.local_id, handle, self.owner)

    async def _poll_step(self, provider: ProviderHandle, job: ProviderJob) -> None:
        assert job.handle is not None
        logical = self.ledger.logical(job.logical_id)
        report = await provider.poll_status(job.handle)
        if logical.cancelled and not report.is_terminal and job.local_id not in self._cancel_sent:
            # The user cancelled from another process: the holder of the claim makes the call.
            report = await provider.cancel(job.handle)
            self._cancel_sent.add(job.local_id)
        crash_point("polling")
        self._record(job, report)

    def _record(self, job: ProviderJob, report: BatchStatusReport) -> ProviderJob:
        """Record a polled status; a job refused before anything ran because the provider's queue
        was full goes back to be created again once earlier jobs of its model have finished, and
        no more than that many are sent at once from then on."""
        if not (report.requeue and report.is_terminal):
            return self.ledger.record_status(job.local_id, report, self.owner)
        requeued = self.ledger.requeue(job.local_id, report.error or report.raw_status, self.owner)
        key = (job.provider, job.model)
        running, _ = self.ledger.in_flight(*key)
        if running:
            self._learned_slots[key] = min(running, self._learned_slots.get(key, running))
        else:  # someone else fills the queue: try again after a while
            self._hold_until[job.local_id] = time.monotonic() + self.initial_interval
        self._notice(
            f"{job.provider}'s queue for {job.model} is full: {job.local_id} will be created "
            f"again when room frees up ({report.error or report.raw_status})"
        )
        return requeued

    # -- status ----------------------------------------------------------------------------------

    async def get_status(self, job_id: str) -> JobStatus:
        """Poll the job's running provider jobs (those no other live process holds) and return its
        aggregate status."""
        async with self._working():
            return await self._poll_recorded(job_id)

    def _known(self, job_ids: Iterable[str]) -> None:
        """Raise :class:`UnknownJobError` for the first id the ledger does not hold."""
        for job_id in job_ids:
            self.ledger.logical(job_id)

    async def _poll_recorded(self, job_id: str) -> JobStatus:
        self._known([job_id])
        jobs = []
        for job in self.ledger.jobs_of(job_id):
            if job.state is JobState.SUBMITTED and job.handle is not None:
                held = job.local_id in self._held or self._claim(job) is not None
                if held:
                    report = await self._provider_for(job).poll_status(job.handle)
                    job = self._record(job, report)
            jobs.append(job)
        return aggregate(job_id, jobs)

    def recorded_status(self, job_id: str) -> JobStatus:
        """The job's status as last recorded in the ledger (no network)."""
        self._known([job_id])
        return aggregate(job_id, self.ledger.jobs_of(job_id))

    async def get_all_statuses(self, job_ids: Iterable[str]) -> dict[str, JobStatus]:
        """:meth:`get_status` for several jobs, in parallel."""
        ids = list(job_ids)
        return dict(zip(ids, await asyncio.gather(*(self.get_status(i) for i in ids)), strict=True))

    async def wait_for_all(
        self,
        job_ids: Iterable[str],
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_status: Callable[[JobStatus], None] | None = None,
    ) -> dict[str, JobStatus]:
        """Poll until every job ended, backing off (initial interval ×multiplier, capped).

        Jobs not yet created are created first (a wait re-attaches to an interrupted run). Transient
        provider errors are retried for as long as ``timeout`` allows. Raises
        :class:`BatchTimeoutError` if ``timeout`` passes first. A FAILED job is a status here, not
        an exception: its requests come back errored from :meth:`get_results`; a job parked as
        needing attention counts as settled (see :attr:`JobStatus.needs_attention`).
        """
        return await self._drive(
            list(job_ids),
            until=_Goal.ENDED,
            timeout=timeout,
            poll_interval=poll_interval,
            on_status=on_status,
        )

    # -- results ---------------------------------------------------------------------------------

    def _downloaded(self, job: ProviderJob) -> Path | None:
        if (
            job.state is JobState.FETCHED
            and job.results_path is not None
            and job.results_path.exists()
        ):
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

    async def _results_of(
        self, job: ProviderJob
    ) -> AsyncIterator[tuple[RequestResult, bytes | None]]:
        """One provider job's results: from the local copy, or downloaded (and kept) as they
        stream, each with its unified line when the download made one."""
        if job.state is JobState.FAILED:
            # Refused by the provider: nothing to download, and the job stays marked refused.
            for result in unsent_results(self._local(job)):
                yield result, None
            return
        path = self._downloaded(job)
        if path is None:
            async with self._working():
                job = await self._hold_for_download(job)
                path = self._downloaded(job)
                if path is None:
                    async for pair in self._download_stream(job):
                        yield pair
                    return
        for _, data in iter_jsonl(path):
            yield result_from_data(data), None

    async def _hold_for_download(self, job: ProviderJob) -> ProviderJob:
        """Claim a job to download it; while another live process holds it, wait for that process
        (it is downloading, or will) and then use its copy."""
        start = time.monotonic()
        while True:
            held = self._claim(job)
            if held is not None:
                return held
            job = self.ledger.job(job.local_id)
            if self._downloaded(job) is not None:
                return job
            if time.monotonic() - start > self.timeout:
                raise BatchTimeoutError(job.local_id, self.timeout)
            await asyncio.sleep(0.2)

    async def _download_stream(
        self, job: ProviderJob
    ) -> AsyncIterator[tuple[RequestResult, bytes]]:
        """Download results, writing each to the local copy as it is yielded (no second parse).
        Only the claimant downloads: a leftover partial file is a dead process's."""
        path = self.files.path(job.provider, job.local_id, "unified")
        usage = UsageTotals()
        results = self._provider_results(job)
        metadata = request_metadata(self._local(job).requests_path)
        if metadata:
            results = with_metadata(results, metadata)
        schema = output_schema(self.ledger.logical(job.logical_id).params.get("output_schema"))
        check = OutputCheck(schema) if schema is not None else None
        if check is not None:
            results = check.results(results)
        async for pair in write_local_copy(results, job, path, usage):
            yield pair
        counts = None
        if check is not None and check.invalid:
            self._outputs_invalid(job, check)
            # Once: a second download (another machine's) finds the counts already moved.
            if job.counts is not None and job.state is not JobState.FETCHED:
                counts = job.counts
                moved = min(check.invalid, counts.succeeded)
                counts = attrs.evolve(
                    counts, succeeded=counts.succeeded - moved, errored=counts.errored + moved
                )
        self.ledger.record_results(job.local_id, path, usage.total(), self.owner, counts=counts)

    def _outputs_invalid(self, job: ProviderJob, check: OutputCheck) -> None:
        """Say how many replies missed the schema; loudly when most did (a provider that
        reports success for every row while every row failed its schema must not go unnoticed)."""
        self._log.warning(
            "outputs_invalid", local_id=job.local_id, invalid=check.invalid, checked=check.checked
        )
        if check.invalid * 2 > check.checked:
            self._notice(
                f"{job.provider} {job.local_id}: {check.invalid} of {check.checked} replies do "
                "not conform to the output schema (counted as errored; see their error messages)"
            )

    async def _provider_results(self, job: ProviderJob) -> AsyncIterator[RequestResult]:
        if self.ledger.keeps_files:
            job = self._local(job)  # recorded elsewhere: a plugin may read its input back
        if job.handle is not None:
            # A download survives an outage for as long as a wait would (the router's timeout).
            deadline = time.monotonic() + self.timeout
            async for r in self._provider_for(job).fetch_results(job.handle, retry_until=deadline):
                yield r
            return
        for result in unsent_results(job):  # cancelled before it was submitted
            yield result

    async def _ensure_ended(self, job_id: str) -> list[ProviderJob]:
        status = await self.get_status(job_id)
        if status.needs_attention:
            raise JobNeedsAttentionError(job_id, status.needs_attention)
        if not status.is_terminal:
            raise JobNotEndedError(job_id, status.status)
        return list(status.provider_jobs)

    async def get_results(self, job_id: str) -> AsyncIterator[RequestResult]:
        """Stream one job's results: one per request, the latest attempt winning after retries."""
        async for result, _ in self._latest_results(job_id):
            yield result

    async def get_result_lines(self, job_id: str) -> AsyncIterator[tuple[RequestResult, bytes]]:
        """:meth:`get_results`, each result with its unified JSON line
        (:func:`~batch_router_core.formats.unified.result_line`): for writers of results files,
        which then reuse the line a download already made instead of serialising every result
        again."""
        async for result, line in self._latest_results(job_id):
            yield result, result_line(result) if line is None else line

    async def _latest_results(
        self, job_id: str
    ) -> AsyncIterator[tuple[RequestResult, bytes | None]]:
        jobs = await self._ensure_ended(job_id)
        attempts = sorted({j.attempt for j in jobs}, reverse=True)
        if len(attempts) == 1:  # no retries: nothing can be superseded, so no id needs tracking
            for job in jobs:
                async for pair in self._results_of(job):
                    yield pair
            return
        superseded: set[str] = set()
        for attempt in attempts:
            this_round: set[str] = set()
            for job in jobs:
                if job.attempt != attempt:
                    continue
                async for pair in self._results_of(job):
                    custom_id = pair[0].custom_id
                    if custom_id in superseded:
                        continue
                    this_round.add(custom_id)
                    yield pair
            superseded |= this_round

    async def get_all_results(
        self, job_ids: Iterable[str]
    ) -> AsyncIterator[tuple[str, RequestResult]]:
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
        """Cancel every running provider job of a job; True if anything was cancelled.

        Jobs another live process holds are cancelled by that process (it sees the request in the
        ledger on its next round); the others are claimed and cancelled here.
        """
        self._known([job_id])
        self.ledger.mark_cancelled(job_id)
        async with self._working():
            return await self._cancel_held(job_id)

    async def _cancel_held(self, job_id: str) -> bool:
        cancelled = False
        for job in self.ledger.jobs_of(job_id):
            if job.state.is_final or job.state is JobState.ENDED:
                continue
            held = self._claim(job)
            if held is None:
                cancelled = True  # its holder makes the call
                continue
            provider = self._provider_for(held)
            if held.state in (JobState.PREPARED, JobState.SUBMITTING):
                await self._submit_step(
                    provider, held
                )  # reconciles, then records it never submitted
                held = self.ledger.job(job.local_id)
                cancelled = cancelled or held.state is JobState.ENDED
            if held.state is JobState.SUBMITTED and held.handle is not None:
                report = await provider.poll_status(held.handle)
                if not report.is_terminal:
                    report = await provider.cancel(held.handle)
                    cancelled = True
                self.ledger.record_status(job.local_id, report, self.owner)
        return cancelled

    async def cancel_all(self, job_ids: Iterable[str]) -> dict[str, bool]:
        """:meth:`cancel_batch` for several jobs, in parallel."""
        ids = list(job_ids)
        return dict(
            zip(ids, await asyncio.gather(*(self.cancel_batch(i) for i in ids)), strict=True)
        )

    # -- recovery --------------------------------------------------------------------------------

    async def resume(
        self,
        *,
        wait: bool = True,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_status: Callable[[JobStatus], None] | None = None,
    ) -> list[str]:
        """Continue every unfinished job in the ledger after a crash; returns their job ids.

        An intent that was certainly never sent is submitted; one whose create may have reached
        the provider is looked up first (``find_job``) and adopted only when its identity is proven;
        on a provider that cannot look jobs up it is parked as NEEDS_ATTENTION rather than risk a
        double submission. Jobs another live process holds are left to it (and taken over if it
        dies). With ``wait`` the call also waits for the jobs and downloads their results; jobs
        parked as needing attention are reported by :meth:`recorded_status`, never waited for.
        """
        ids = list(dict.fromkeys(job.logical_id for job in self.ledger.unfinished()))
        if ids:
            await self._drive(
                ids,
                until=_Goal.FETCHED if wait else _Goal.SUBMITTED,
                timeout=timeout,
                poll_interval=poll_interval,
                on_status=on_status,
            )
        return ids

    # -- workers -----------------------------------------------------------------------------------

    async def work(
        self,
        *,
        stop: asyncio.Event | None = None,
        poll_interval: float = 10.0,
        until_idle: bool = False,
        hold_s: float = 300.0,
        on_round: Callable[[WorkRound], None] | None = None,
        metrics_every_s: float = 60.0,
    ) -> WorkRound:
        """Work the ledger's unfinished jobs, whoever recorded them, until ``stop`` is set.

        Each round claims every unfinished provider job no live process holds and takes one step
        for it: create it (a create that may have landed is reconciled first, never repeated
        blindly), poll it (each running job every ``poll_interval``, or at once when a verified
        webhook for it has been recorded in the ledger), download its results. Jobs producers
        record later (:meth:`submit_requests` / :meth:`run_batches` with ``send=False``) are picked
        up by the next round; a job whose worker died is taken over when its lease runs out (at
        once if it died on this host). Creations are paced by the capacity in flight across the
        whole ledger, so limits per provider and model hold across a fleet. A job this worker
        cannot work on (its plugin missing, no key, a refused poll) is left alone for ``hold_s``
        and then tried again; nothing ends it. With ``until_idle`` it returns once no unfinished
        job is left. Claims are given back when it returns. Returns the last round.

        Each round is logged (``worker_round``), and every ``metrics_every_s`` the ledger's
        metrics (``ledger_metrics``: jobs by state, the oldest unfinished job, claims per worker;
        what ``batch-router metrics`` shows), so a log pipeline can watch the fleet.
        """
        stop = stop or asyncio.Event()
        last = WorkRound(number=0, unfinished=0, held=0, skipped=0)
        metrics_due = 0.0
        tick = min(poll_interval, self.webhook_check_s)
        events_after = time.time()
        async with self._working():
            while not stop.is_set():
                for local_id, received_at in self.ledger.webhook_events_since(events_after):
                    self._hold_until.pop(local_id, None)  # its webhook says: look now
                    events_after = max(events_after, received_at)
                now = time.monotonic()
                ids: dict[str, None] = {}
                skipped = 0
                for job in self.ledger.unfinished():
                    if self._hold_until.get(job.local_id, 0.0) > now:
                        skipped += job.state is not JobState.SUBMITTED  # waiting to poll: normal
                        continue
                    try:
                        self._provider_for(job).check_credentials()
                    except BatchRouterError as exc:
                        skipped += 1
                        self._hold_until[job.local_id] = now + hold_s
                        self._notice(f"{job.provider} {job.local_id}: {exc}; left for {hold_s:g}s")
                        continue
                    ids[job.logical_id] = None
                if ids:
                    jobs = await self._round(list(ids), _Goal.FETCHED)
                    self._let_go(j for group in jobs.values() for j in group if j.state.is_final)
                    due = time.monotonic() + poll_interval
                    for group in jobs.values():
                        for j in group:
                            # Polled this round (or just created): the next poll is due later.
                            held = self._hold_until.get(j.local_id, 0.0)
                            if (
                                j.state is JobState.SUBMITTED
                                and j.owner == self.owner
                                and held <= now
                            ):
                                self._hold_until[j.local_id] = due
                for local_id in list(self._blocked):
                    self._blocked.pop(local_id)
                    self._hold_until[local_id] = time.monotonic() + hold_s
                last = WorkRound(
                    number=last.number + 1,
                    unfinished=len(self.ledger.unfinished()),
                    held=len(self._held),
                    skipped=skipped,
                )
                self._log.info("worker_round", **attrs.asdict(last))
                if time.monotonic() >= metrics_due:
                    metrics_due = time.monotonic() + metrics_every_s
                    self._log.info("ledger_metrics", **self.ledger.metrics(time.time()))
                if on_round is not None:
                    on_round(last)
                if until_idle and not last.unfinished:
                    break
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), tick)
        return last

    # -- re-running failures ---------------------------------------------------------------------

    async def retry_failed(
        self,
        job_id: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        wait_for_completion: bool = False,
    ) -> list[str]:
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
            params = attrs.evolve(
                params,
                provider_id=provider or params.provider_id,
                model_id=model or params.model_id,
            )
        requests: list[InputRequest] = []
        for job in self.ledger.jobs_of(job_id):
            own = self._local(job).requests_path
            requests.extend(r for r in read_requests(own) if r.custom_id in failed)
            failed -= {r.custom_id for r in requests}
        batch = InputBatch(requests=tuple(requests), params=params)
        handle = self.get_provider(batch.provider)
        self._validate_batches([batch])
        attempt = 1 + max(j.attempt for j in self.ledger.jobs_of(job_id))
        shards = write_shards(handle, batch, self.files, shard=self.shard, validated=True)
        async with self._working():
            jobs = self.ledger.add_attempt(
                logical_id=job_id,
                provider=handle.name,
                model=batch.model,
                mode=batch.mode,
                attempt=attempt,
                shards=shards,
                owner=self.owner,
                lease_s=self.lease_s,
            )
            self._held.update(j.local_id for j in jobs)
            self._ensure_heartbeat()
            await self._drive(
                [job_id], until=_Goal.ENDED if wait_for_completion else _Goal.SUBMITTED
            )
        return [r.custom_id for r in requests]
