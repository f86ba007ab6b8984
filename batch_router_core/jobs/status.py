"""A logical job's status: the aggregate of its provider jobs, and the error for parked ones."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from batch_router_core.errors import BatchRouterError
from batch_router_core.jobs.ledger import JobState, ProviderJob
from batch_router_core.models.enums import BatchStatus
from batch_router_core.models.results import RequestCounts

__all__ = ["JobNeedsAttentionError", "JobStatus", "aggregate"]

#: Which terminal status a job with several ended provider jobs shows: the worst one.
_TERMINAL_ORDER = (
    BatchStatus.FAILED,
    BatchStatus.EXPIRED,
    BatchStatus.CANCELLED,
    BatchStatus.COMPLETED,
)


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
    total = RequestCounts()
    for j in jobs:
        c = j.counts or RequestCounts(total=j.request_count, processing=j.request_count)
        total = RequestCounts(
            total=total.total + (c.total or j.request_count),
            processing=total.processing + c.processing,
            succeeded=total.succeeded + c.succeeded,
            errored=total.errored + c.errored,
            cancelled=total.cancelled + c.cancelled,
            expired=total.expired + c.expired,
        )
    return JobStatus(job_id=job_id, status=status, request_counts=total, provider_jobs=tuple(jobs))
