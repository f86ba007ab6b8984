"""Settling a create that may have reached the provider, before anything is sent again.

After a crash or a lost answer, a provider job recorded as ``submitting`` may or may not exist. The
provider is asked for the job by its tag (``find_job``); a job it finds is adopted, one it certainly
does not have is created again, and candidates it cannot tell apart are verified by their results
once they end. When nothing can be proven, the job is parked for the user with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from batch_router_core.errors import UnsupportedOperationError, UnverifiedCandidatesError
from batch_router_core.files import iter_jsonl
from batch_router_core.jobs.ledger import Ledger, ProviderJob
from batch_router_core.models.provider import BatchHandle
from batch_router_core.registry.handle import ProviderHandle

__all__ = ["Reconciler"]


class Reconciler:
    """Reconciles the provider jobs ``owner`` holds claims on; outcomes go to ``ledger``."""

    def __init__(self, ledger: Ledger, owner: str, notice: Callable[[str], None], log: Any) -> None:
        self.ledger = ledger
        self.owner = owner
        self._notice = notice
        self._log = log

    async def reconcile(self, provider: ProviderHandle, job: ProviderJob) -> bool:
        """Settle whether a create that may have reached the provider did: True once the job was
        adopted, parked or is waiting on candidates; False when the provider certainly has none."""
        if job.candidates:
            return await self._verify(provider, job)
        try:
            found = await provider.find_job(
                job.local_id,
                job.request_count,
                known_batch_ids=self.ledger.known_batch_ids(job.provider),
            )
        except UnverifiedCandidatesError as exc:
            self.ledger.record_candidates(job.local_id, exc.candidates, self.owner)
            self._notice(
                f"{job.provider} {job.local_id}: {len(exc.candidates)} provider job(s) may be this "
                "one; waiting for them to end to verify them by their custom_ids"
            )
            return True
        except UnsupportedOperationError:
            self.ledger.needs_attention(
                job.local_id,
                f"{job.provider} cannot look jobs up, and a create call for {job.local_id} "
                "may have reached it: check its console before re-running",
                self.owner,
            )
            return True
        if found is None:
            return False
        self.adopt(job, found)
        return True

    def adopt(self, job: ProviderJob, found: BatchHandle) -> None:
        # The ledger knows the shard better than a listing does (counts, the local input file).
        data = {**found.data, "input_path": str(job.input_path)}
        handle = attrs.evolve(
            found,
            local_id=job.local_id,
            request_count=job.request_count,
            model=found.model or job.model,
            mode=job.mode,
            data=data,
        )
        self.ledger.record_submitted(job.local_id, handle, self.owner)
        self._log.info("job_adopted", local_id=job.local_id, batch_id=found.batch_id)

    async def _verify(self, provider: ProviderHandle, job: ProviderJob) -> bool:
        """Adopt the one candidate whose results hold exactly this job's custom_ids, once all
        ended."""
        for candidate in job.candidates:
            if not (await provider.poll_status(candidate)).is_terminal:
                return True  # still running: look again next round
        known = self.ledger.known_batch_ids(job.provider)
        wanted = {data["custom_id"] for _, data in iter_jsonl(job.requests_path)}
        matches = []
        for candidate in job.candidates:
            if candidate.batch_id in known:
                continue
            ids = set()
            async for result in provider.fetch_results(candidate):
                ids.add(result.custom_id)
            if ids == wanted:
                matches.append(candidate)
        if len(matches) == 1:
            self.adopt(job, matches[0])
            return True
        if matches:
            self.ledger.needs_attention(
                job.local_id,
                f"{len(matches)} {job.provider} jobs hold exactly the requests of {job.local_id} "
                f"({', '.join(c.batch_id for c in matches)}); batch-router cannot tell which one "
                f"it created",
                self.owner,
            )
            return True
        self.ledger.record_candidates(job.local_id, (), self.owner)
        return False  # none of them is this job: it was never created
