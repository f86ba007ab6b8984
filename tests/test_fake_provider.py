"""The fake provider through the real registry and facade, and the conformance suite on it."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from batch_router_core import (
    BatchProviderRegistry,
    BatchStatus,
    ProviderHandle,
    ProviderTransientError,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation import ManualClock
from batch_router_core.testing.conformance import ConformanceDriver, ProviderConformance
from batch_router_core.testing.fake_provider import FakeService

from .conftest import make_batch


class FakeDriver(ConformanceDriver):
    fault_operations = ("submit", "poll_status", "fetch_results", "cancel")

    def __init__(self, service: FakeService, clock: ManualClock) -> None:
        self.service = service
        self.clock = clock

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def inject_transient(self, operation: str) -> None:
        self.service.transient(operation, retry_after=30)

    def inject_permanent(self, operation: str) -> None:
        self.service.permanent(operation)

    def fail_requests(self, custom_ids: Iterable[str]) -> None:
        self.service.error_ids.update(custom_ids)

    def stall_next_job(self) -> None:
        self.service.stuck_next = True


class TestFakeConformance(ProviderConformance):
    embedding_model = "fake-embed"

    @pytest.fixture
    def conformance_provider(
        self, batch_router_registry: BatchProviderRegistry, fake_service: FakeService
    ) -> ProviderHandle:
        return batch_router_registry.get("fake", service=fake_service)

    @pytest.fixture
    def conformance_batch(self):  # type: ignore[no-untyped-def]
        return make_batch(5, system_prompt="be brief", max_output_tokens=20)

    @pytest.fixture
    def conformance_driver(self, fake_service: FakeService, fake_clock: ManualClock) -> FakeDriver:
        return FakeDriver(fake_service, fake_clock)


@pytest.fixture
def fake(batch_router_registry: BatchProviderRegistry, fake_service: FakeService) -> ProviderHandle:
    return batch_router_registry.get("fake", service=fake_service)


async def test_per_request_errors_and_usage(
    fake: ProviderHandle, fake_service: FakeService, fake_clock: ManualClock
) -> None:
    fake_service.error_ids = {"req-1"}
    handle = await fake.submit(fake.prepare(make_batch(3)))
    fake_clock.advance(100)
    report = await fake.poll_status(handle)
    assert report.request_counts.succeeded == 2 and report.request_counts.errored == 1
    results = {r.custom_id: r async for r in fake.fetch_results(handle)}
    assert results["req-1"].status is ResultStatus.ERRORED and results["req-1"].error is not None
    assert results["req-0"].text == "echo: question number 0"
    assert results["req-0"].usage is not None and results["req-0"].usage.total_tokens > 0


async def test_expiry_accounts_for_every_request(
    fake: ProviderHandle, fake_service: FakeService, fake_clock: ManualClock
) -> None:
    fake_service.stuck_next = True
    handle = await fake.submit(fake.prepare(make_batch(6)))
    fake_clock.advance(3600)
    assert (await fake.poll_status(handle)).status is BatchStatus.IN_PROGRESS
    fake_clock.advance(86400)
    report = await fake.poll_status(handle)
    assert report.status is BatchStatus.EXPIRED
    statuses = [r.status async for r in fake.fetch_results(handle)]
    assert statuses.count(ResultStatus.SUCCEEDED) == 3 and statuses.count(ResultStatus.EXPIRED) == 3


async def test_dropped_download_resumes_without_duplicates(
    fake: ProviderHandle,
    fake_service: FakeService,
    fake_clock: ManualClock,
) -> None:
    handle = await fake.submit(fake.prepare(make_batch(700)))
    fake_clock.advance(100)
    await fake.poll_status(handle)
    fake_service.break_fetch_after(300)
    ids = [r.custom_id async for r in fake.fetch_results(handle)]
    assert len(ids) == 700 and len(set(ids)) == 700
    assert fake_service.calls["fetch_results"] == 2


async def test_transient_errors_give_up_eventually(
    fake: ProviderHandle, fake_service: FakeService
) -> None:
    handle = await fake.submit(fake.prepare(make_batch(1)))
    fake_service.transient("poll_status", times=100)
    with pytest.raises(ProviderTransientError):
        await fake.poll_status(handle)
    assert fake_service.calls["poll_status"] == 6  # the policy's attempts, then it gives up


async def test_validation_happens_before_anything_is_written(
    fake: ProviderHandle,
    fake_service: FakeService,
    batch_router_registry: BatchProviderRegistry,
) -> None:
    with pytest.raises(ValidationError, match="gpt-4o"):
        fake.prepare(make_batch(2, model="gpt-4o"))
    assert not batch_router_registry.files.generated.exists()
    assert fake_service.calls == {}


def test_byte_limit_refuses_the_batch(fake_service: FakeService, batch_router_files) -> None:  # type: ignore[no-untyped-def]
    reg = BatchProviderRegistry(
        files=batch_router_files, overrides={"fake": {"limits": {"max_bytes": 500}}}
    )
    with pytest.raises(ValidationError, match="would exceed 500 bytes"):
        reg.get("fake", service=fake_service).prepare(make_batch(20))
    assert list(reg.files.provider_dir("fake").iterdir()) == []


def test_prepare_writes_the_file_it_reports(fake: ProviderHandle) -> None:
    prepared = fake.prepare(make_batch(4, system_prompt="sys", temperature=0.5))
    lines = list(prepared.iter_lines())
    assert len(lines) == prepared.request_count == 4
    assert prepared.byte_size == prepared.path.stat().st_size
    assert b'"temperature":0.5' in lines[0] and b'"role":"system"' in lines[0]


async def test_embedding_and_completion_modes(
    fake: ProviderHandle, fake_clock: ManualClock
) -> None:
    for mode, check in (
        ("embedding", lambda r: r.embedding and len(r.embedding) == 4),
        ("completion", lambda r: r.text.startswith("echo: question")),
    ):
        batch = (
            make_batch(3, mode=mode, embedding_dimensions=4)
            if mode == "embedding"
            else make_batch(3, mode=mode)
        )
        handle = await fake.submit(fake.prepare(batch))
        fake_clock.advance(100)
        await fake.poll_status(handle)
        results = [r async for r in fake.fetch_results(handle)]
        assert len(results) == 3 and all(check(r) for r in results), results


async def test_per_request_param_overrides_reach_the_wire(fake: ProviderHandle) -> None:
    from batch_router_core import InferenceParams, InputMessage, InputRequest

    batch = make_batch(1, max_output_tokens=5)
    special = InputRequest(
        custom_id="special",
        messages=[InputMessage.user("long one")],
        params=InferenceParams(max_output_tokens=500),
    )
    batch = batch.of([*batch.requests, special], batch.params)
    lines = list(fake.prepare(batch).iter_lines())
    assert b'"max_tokens":5' in lines[0] and b'"max_tokens":500' in lines[1]


async def test_resumed_download_without_a_stable_order_dedups_by_id(
    batch_router_files,
    fake_service: FakeService,
    fake_clock: ManualClock,  # type: ignore[no-untyped-def]
) -> None:
    from batch_router_core.retry import RetryPolicy

    reg = BatchProviderRegistry(
        files=batch_router_files,
        retry=RetryPolicy.no_wait(),
        overrides={"fake": {"capabilities": {"stable_result_order": False}}},
    )
    fake = reg.get("fake", service=fake_service)
    handle = await fake.submit(fake.prepare(make_batch(50)))
    fake_clock.advance(100)
    await fake.poll_status(handle)
    fake_service.break_fetch_after(20)
    ids = [r.custom_id async for r in fake.fetch_results(handle)]
    assert len(ids) == 50 and len(set(ids)) == 50
