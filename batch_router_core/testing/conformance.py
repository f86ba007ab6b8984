"""The shared conformance suite: the contract every provider plugin must keep, as pytest tests.

A plugin's test module subclasses :class:`ProviderConformance` and supplies three fixtures::

    class TestMyProviderConformance(ProviderConformance):
        @pytest.fixture
        def conformance_provider(self, ...) -> ProviderHandle: ...     # the provider under test
        @pytest.fixture
        def conformance_batch(self) -> InputBatch: ...                # >= 3 requests, configured
        @pytest.fixture
        def conformance_driver(self, ...) -> ConformanceDriver: ...   # moves time, injects faults

The driver is how the suite reaches the provider's service (its emulator): finishing jobs by moving
the clock, and injecting transient and permanent errors. Use a registry with
``RetryPolicy.no_wait()`` so retries do not sleep.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson
import pytest

from ..errors import ProviderPermanentError, ProviderTransientError, UnsupportedOperationError
from ..files import new_local_id
from ..handle import ProviderHandle
from ..models.enums import BatchStatus, ResultStatus
from ..models.provider import BatchHandle
from ..models.requests import InputBatch
from ..models.results import BatchStatusReport, RequestResult

__all__ = ["ConformanceDriver", "ProviderConformance"]


class ConformanceDriver(abc.ABC):
    """How the suite controls the provider's service. Implement one per plugin."""

    @abc.abstractmethod
    def advance(self, seconds: float) -> None:
        """Move the service's clock forward by ``seconds``."""

    @abc.abstractmethod
    def inject_transient(self, operation: str) -> None:
        """Make the next call of ``operation`` fail transiently (429, 5xx, dropped connection)."""

    @abc.abstractmethod
    def inject_permanent(self, operation: str) -> None:
        """Make the next call of ``operation`` fail permanently (e.g. 401)."""

    def line_custom_id(self, line: Mapping[str, Any]) -> str | None:
        """The custom_id carried by one provider-native line (override for other shapes)."""
        for key in ("custom_id", "key"):
            if isinstance(line.get(key), str):
                return line[key]  # type: ignore[no-any-return]
        meta = line.get("metadata")
        if isinstance(meta, Mapping):
            for key in ("custom_id", "key"):
                if isinstance(meta.get(key), str):
                    return meta[key]  # type: ignore[no-any-return]
        return None


class ProviderConformance:
    """The suite. Subclass it in a plugin's tests and provide the three fixtures."""

    #: Operations the driver can inject faults into; a driver that cannot lists fewer.
    fault_operations: ClassVar[tuple[str, ...]] = ("poll_status",)
    #: Seconds of service time after which a fresh job is certainly finished.
    finish_after: ClassVar[float] = 3 * 86400.0
    #: Maximum polls while waiting for a terminal status.
    max_polls: ClassVar[int] = 50

    # -- helpers ----------------------------------------------------------------------------------

    async def _run_to_end(self, provider: ProviderHandle, driver: ConformanceDriver,
                          handle: BatchHandle) -> list[BatchStatusReport]:
        reports = [await provider.poll_status(handle)]
        step = self.finish_after / 10
        while not reports[-1].is_terminal and len(reports) < self.max_polls:
            driver.advance(step)
            reports.append(await provider.poll_status(handle))
        return reports

    async def _results(self, provider: ProviderHandle, handle: BatchHandle) -> list[RequestResult]:
        return [r async for r in provider.fetch_results(handle)]

    @staticmethod
    def _assert_monotonic(reports: list[BatchStatusReport]) -> None:
        ranks = [r.status.rank for r in reports]
        assert ranks == sorted(ranks), f"status moved backwards: {[r.status.value for r in reports]}"

    # -- the tests ------------------------------------------------------------------------------

    def test_provider_info_is_consistent(self, conformance_provider: ProviderHandle) -> None:
        """The info names the provider, declares modes and models, and maps terminal statuses."""
        info = conformance_provider.info
        assert info.name == conformance_provider.name
        assert info.modes and info.models
        mapped = set(info.status_map.values())
        assert BatchStatus.COMPLETED in mapped, "no raw status maps to COMPLETED"
        assert mapped & {BatchStatus.IN_PROGRESS, BatchStatus.VALIDATING}
        # Declared capabilities and implemented optional hooks agree.
        assert info.capabilities.delete == conformance_provider.implements("delete_job"), \
            "capabilities.delete does not match whether the delete_job hook is implemented"
        assert info.capabilities.list_jobs == conformance_provider.implements("find_job"), \
            "capabilities.list_jobs does not match whether the find_job hook is implemented"

    def test_prepare_payloads_is_pure_and_keeps_every_custom_id(
        self, conformance_provider: ProviderHandle, conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """Two conversions give the same bytes; every request gives one line with its custom_id."""
        first = list(conformance_provider.prepare_payloads(conformance_batch).lines)
        second = list(conformance_provider.prepare_payloads(conformance_batch).lines)
        assert first == second, "prepare_payloads is not deterministic"
        assert len(first) == len(conformance_batch.requests)
        ids = [conformance_driver.line_custom_id(orjson.loads(line)) for line in first]
        assert ids == [r.custom_id for r in conformance_batch.requests]

    async def test_full_cycle_yields_one_result_per_request(
        self, conformance_provider: ProviderHandle, conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """prepare -> submit -> poll (never backwards) -> fetch: exactly one result per request."""
        prepared = conformance_provider.prepare(conformance_batch)
        handle = await conformance_provider.submit(prepared)
        assert handle.provider == conformance_provider.name
        assert handle.request_count == len(conformance_batch.requests)
        reports = await self._run_to_end(conformance_provider, conformance_driver, handle)
        self._assert_monotonic(reports)
        assert reports[-1].status is BatchStatus.COMPLETED, reports[-1]
        results = await self._results(conformance_provider, handle)
        ids = [r.custom_id for r in results]
        assert sorted(ids) == sorted(r.custom_id for r in conformance_batch.requests)
        assert all(r.status is ResultStatus.SUCCEEDED for r in results), results
        assert all(r.text or r.embedding for r in results)

    async def test_cancel_works_or_is_declared_unsupported(
        self, conformance_provider: ProviderHandle, conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """Cancel leads to CANCELLING/CANCELLED and every request is still accounted for."""
        prepared = conformance_provider.prepare(conformance_batch)
        handle = await conformance_provider.submit(prepared)
        if not conformance_provider.info.capabilities.cancel:
            with pytest.raises(UnsupportedOperationError):
                await conformance_provider.cancel(handle)
            return
        report = await conformance_provider.cancel(handle)
        assert report.status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED), report
        reports = [report, *await self._run_to_end(conformance_provider, conformance_driver, handle)]
        self._assert_monotonic(reports)
        assert reports[-1].status is BatchStatus.CANCELLED, reports[-1]
        results = await self._results(conformance_provider, handle)
        assert sorted(r.custom_id for r in results) == sorted(
            r.custom_id for r in conformance_batch.requests
        )
        assert {r.status for r in results} <= {ResultStatus.SUCCEEDED, ResultStatus.CANCELLED}

    async def test_transient_errors_are_retried(
        self, conformance_provider: ProviderHandle, conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """A transient failure of a retryable operation is retried and the call succeeds."""
        handle = await conformance_provider.submit(conformance_provider.prepare(conformance_batch))
        for operation in self.fault_operations:
            conformance_driver.inject_transient(operation)
        report = await conformance_provider.poll_status(handle)
        assert report.batch_id == handle.batch_id

    async def test_permanent_errors_are_mapped_and_not_retried(
        self, conformance_provider: ProviderHandle, conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """A permanent failure surfaces once as ProviderPermanentError; the next call works."""
        handle = await conformance_provider.submit(conformance_provider.prepare(conformance_batch))
        conformance_driver.inject_permanent("poll_status")
        with pytest.raises(ProviderPermanentError):
            await conformance_provider.poll_status(handle)
        report = await conformance_provider.poll_status(handle)  # injected once, not retried away
        assert report.batch_id == handle.batch_id

    async def test_submit_is_not_retried_unless_idempotent(
        self, conformance_provider: ProviderHandle, conformance_batch: InputBatch,
        conformance_driver: ConformanceDriver,
    ) -> None:
        """A transient submit failure is raised, not retried, for non-idempotent providers."""
        if conformance_provider.info.idempotent_submit:
            pytest.skip("this provider declares submit idempotent: retries are allowed")
        prepared = conformance_provider.prepare(conformance_batch)
        conformance_driver.inject_transient("submit")
        with pytest.raises(ProviderTransientError):
            await conformance_provider.submit(prepared)

    async def test_find_job_by_tag_or_declared_unsupported(
        self, conformance_provider: ProviderHandle, conformance_batch: InputBatch,
    ) -> None:
        """A submitted job is found again by its tag (crash recovery), or the provider says it can't."""
        if not conformance_provider.implements("find_job"):
            assert not conformance_provider.info.capabilities.list_jobs, (
                "capabilities.list_jobs is declared but the plugin has no find_job hook")
            pytest.skip("this provider cannot look jobs up by tag (no find_job hook)")
        handle = await conformance_provider.submit(conformance_provider.prepare(conformance_batch))
        found = await conformance_provider.find_job(handle.local_id, handle.request_count)
        assert found is not None and found.batch_id == handle.batch_id
        # A tag never submitted (and, for providers that match on size, a size never submitted).
        other = new_local_id()
        assert await conformance_provider.find_job(other, handle.request_count + 1000) is None
