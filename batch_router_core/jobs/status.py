"""A logical job's status: the aggregate of its provider jobs, and the error for parked ones."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import attrs

from batch_router_core.errors import BatchRouterError
from batch_router_core.jobs.ledger import JobState, ProviderJob
from batch_router_core.models.enums import BatchStatus
from batch_router_core.models.results import RequestCounts

__all__ = ["JobNeedsAttentionError", "JobNotEndedError", "JobStatus", "Outcome", "aggregate"]

#: Which terminal status a job with several ended provider jobs shows: the worst one.
_TERMINAL_ORDER = (
    BatchStatus.FAILED,
    BatchStatus.EXPIRED,
    BatchStatus.CANCELLED,
    BatchStatus.COMPLETED,
)


class Outcome(StrEnum):
    """What became of a job, in one word: what scripts branch on (the CLI exit codes follow it)."""

    RUNNING = "running"
    #: ended, and every request succeeded
    SUCCEEDED = "succeeded"
    #: ended, but some requests errored, expired or were cancelled
    PARTIAL = "partial"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    #: part of the job is parked: batch-router would not risk a wrong or double submission
    NEEDS_ATTENTION = "needs_attention"


_ENDED_AS = {
    BatchStatus.FAILED: Outcome.FAILED,
    BatchStatus.EXPIRED: Outcome.EXPIRED,
    BatchStatus.CANCELLED: Outcome.CANCELLED,
}


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

    @property
    def needs_attention(self) -> tuple[ProviderJob, ...]:
        """Provider jobs parked for the user (each with its reason in ``error``)."""
        return tuple(j for j in self.provider_jobs if j.state is JobState.NEEDS_ATTENTION)

    @property
    def outcome(self) -> Outcome:
        """What became of the job (``running`` until every provider job ended)."""
        if self.needs_attention:
            return Outcome.NEEDS_ATTENTION
        if not self.is_terminal:
            return Outcome.RUNNING
        ended_as = _ENDED_AS.get(self.status)
        if ended_as is not None:
            return ended_as
        c = self.request_counts
        return Outcome.PARTIAL if c.errored + c.expired + c.cancelled else Outcome.SUCCEEDED

    @property
    def error_rate(self) -> float:
        """The share of requests that did not succeed (0.0 for an empty job)."""
        c = self.request_counts
        return (c.errored + c.expired + c.cancelled) / c.total if c.total else 0.0


class JobNotEndedError(BatchRouterError):
    """Results were asked of a job that is still running."""

    def __init__(self, job_id: str, status: BatchStatus) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(
            f"job {job_id} has not ended ({status.value}); wait for it first "
            f"(`batch-router wait {job_id}`)"
        )


class JobNeedsAttentionError(BatchRouterError):
    """A job has provider jobs parked for the user: batch-router cannot continue them safely."""

    def __init__(self, job_id: str, parked: Sequence[ProviderJob]) -> None:
        self.job_id = job_id
        self.parked = tuple(parked)
        reasons = "; ".join(f"{j.local_id}: {j.error}" for j in parked)
        super().__init__(f"job {job_id} needs attention: {reasons}")


def aggregate(job_id: str, jobs: Sequence[ProviderJob]) -> JobStatus:
    """The least advanced status of ``jobs`` (the worst terminal one once all ended), counts summed;
    parked jobs do not hold the others up."""
    statuses = [
        j.status or BatchStatus.VALIDATING for j in jobs if j.state is not JobState.NEEDS_ATTENTION
    ]
    statuses = statuses or [BatchStatus.FAILED]
    running = [s for s in statuses if not s.is_terminal]
    if running:
        status = min(running, key=lambda s: s.rank)
    else:
        status = next((s for s in _TERMINAL_ORDER if s in statuses), BatchStatus.COMPLETED)
        if all(s is BatchStatus.COMPLETED for s in statuses):
            status = BatchStatus.COMPLETED
    # A retry's requests replace their failed first outcomes instead of adding to the total.
    first_attempt = min((j.attempt for j in jobs), default=1)
    total = RequestCounts()
    for j in jobs:
        if j.attempt == first_attempt:
            total = _plus(total, _ended_counts(j))
    for j in jobs:
        if j.attempt != first_attempt:
            c = _ended_counts(j)
            retried = j.request_count
            errored = min(total.errored, retried)
            expired = min(total.expired, retried - errored)
            total = attrs.evolve(
                _plus(total, attrs.evolve(c, total=0)),
                errored=total.errored - errored + c.errored,
                expired=total.expired - expired + c.expired,
            )
    return JobStatus(job_id=job_id, status=status, request_counts=total, provider_jobs=tuple(jobs))


def _plus(a: RequestCounts, b: RequestCounts) -> RequestCounts:
    return RequestCounts(
        total=a.total + b.total,
        processing=a.processing + b.processing,
        succeeded=a.succeeded + b.succeeded,
        errored=a.errored + b.errored,
        cancelled=a.cancelled + b.cancelled,
        expired=a.expired + b.expired,
    )


_UNFINISHED_BECOME = {
    BatchStatus.FAILED: "errored",
    BatchStatus.EXPIRED: "expired",
    BatchStatus.CANCELLED: "cancelled",
}


def _ended_counts(job: ProviderJob) -> RequestCounts:
    """A provider job's counts; once it failed, expired or was cancelled, the requests it never
    finished count as errored, expired or cancelled (what their results will say), not as still
    processing or missing."""
    c = job.counts or RequestCounts(total=job.request_count, processing=job.request_count)
    total = c.total or job.request_count
    c = attrs.evolve(c, total=total)
    bucket = _UNFINISHED_BECOME.get(job.status) if job.status is not None else None
    if job.state is JobState.FAILED and job.status is None:
        bucket = "errored"
    if bucket is None or not (job.state.is_final or job.state is JobState.ENDED):
        return c
    unfinished = total - (c.succeeded + c.errored + c.cancelled + c.expired)
    if unfinished <= 0:
        return attrs.evolve(c, processing=0)
    return attrs.evolve(c, processing=0, **{bucket: getattr(c, bucket) + unfinished})
