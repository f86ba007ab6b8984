"""Every injected fault: transient ones retried and survived, permanent ones reported once, and
every
request accounted for (succeeded + errored + cancelled + expired = submitted)."""

from __future__ import annotations

import pytest
from batch_router_openai.emulator import OpenAIEmulator

from batch_router_core import (
    BatchProviderRegistry,
    BatchStatus,
    ProviderPermanentError,
    ProviderTransientError,
    ResultStatus,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.registry.handle import ProviderHandle
from batch_router_core.retry import RetryPolicy

from .conftest import chat_batch


async def complete_job(provider: ProviderHandle, clock: ManualClock, n: int = 6):  # type: ignore[no-untyped-def]
    handle = await provider.submit(provider.prepare(chat_batch(n)))
    clock.advance(3600)
    return handle


def accounted(results: list, n: int) -> None:  # type: ignore[type-arg]
    assert len(results) == n and len({r.custom_id for r in results}) == n
    assert sum(1 for r in results if r.status in set(ResultStatus)) == n


@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "unavailable", "drop"])
async def test_transient_faults_on_polling_are_survived(
    kind: str,
    openai_provider: ProviderHandle,
    clock: ManualClock,
    emulator: OpenAIEmulator,
) -> None:
    handle = await complete_job(openai_provider, clock)
    rule = emulator.faults.add("GET /v1/batches/*", kind, times=3, retry_after=1)
    report = await openai_provider.poll_status(handle)
    assert report.status is BatchStatus.COMPLETED and rule.fired == 3
    accounted([r async for r in openai_provider.fetch_results(handle)], 6)


@pytest.mark.parametrize("kind", ["truncate", "drop", "server_error"])
async def test_broken_result_downloads_are_redone(
    kind: str,
    openai_provider: ProviderHandle,
    clock: ManualClock,
    emulator: OpenAIEmulator,
) -> None:
    handle = await complete_job(openai_provider, clock, n=40)
    await openai_provider.poll_status(handle)
    rule = emulator.faults.add("GET /v1/files/*/content", kind, times=2)
    results = [r async for r in openai_provider.fetch_results(handle)]
    assert rule.fired == 2
    accounted(results, 40)
    assert all(r.status is ResultStatus.SUCCEEDED for r in results)


async def test_rate_limit_hint_is_read_from_the_response(
    batch_router_files,
    server: RunningServer,
    emulator: OpenAIEmulator,
    clock: ManualClock,  # type: ignore[no-untyped-def]
) -> None:
    reg = BatchProviderRegistry(
        files=batch_router_files, overrides={}, retry=RetryPolicy.no_wait(attempts=1)
    )
    provider = reg.get("openai", base_url=server.url + "/v1", api_key="k")
    handle = await complete_job(provider, clock)
    emulator.faults.add("GET /v1/batches/*", "rate_limit", retry_after=7.5)
    with pytest.raises(ProviderTransientError) as exc:
        await provider.poll_status(handle)
    assert exc.value.retry_after == 7.5 and exc.value.status_code == 429


async def test_submit_is_not_retried_on_a_transient_failure(
    openai_provider: ProviderHandle,
    emulator: OpenAIEmulator,
) -> None:
    emulator.faults.add("POST /v1/batches", "server_error")
    prepared = openai_provider.prepare(chat_batch(2))
    with pytest.raises(ProviderTransientError):
        await openai_provider.submit(prepared)
    assert emulator.requests_seen.get("POST batches") == 1  # exactly one create attempt
    assert len(emulator.state.batches) == 0


async def test_permanent_failure_is_reported_once(
    openai_provider: ProviderHandle,
    clock: ManualClock,
    emulator: OpenAIEmulator,
) -> None:
    handle = await complete_job(openai_provider, clock)
    before = emulator.requests_seen.get("GET batches", 0)
    emulator.faults.add("GET /v1/batches/*", "unauthorized", times=5)
    with pytest.raises(ProviderPermanentError) as exc:
        await openai_provider.poll_status(handle)
    assert exc.value.status_code == 401
    assert emulator.requests_seen["GET batches"] == before + 1


async def test_create_failure_removes_the_uploaded_file(
    openai_provider: ProviderHandle,
    emulator: OpenAIEmulator,
) -> None:
    emulator.faults.add("POST /v1/batches", "unauthorized")
    with pytest.raises(ProviderPermanentError):
        await openai_provider.submit(openai_provider.prepare(chat_batch(2)))
    assert emulator.state.files == {}
