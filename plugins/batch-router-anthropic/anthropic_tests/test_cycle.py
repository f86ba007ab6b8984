"""The full cycle through the official anthropic SDK over loopback HTTP against the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from batch_router_anthropic.emulator import AnthropicEmulator

from batch_router_core import (
    BatchStatus,
    InputBatch,
    ProviderPermanentError,
    ProviderTransientError,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.registry.handle import ProviderHandle

from .conftest import chat_batch


async def test_cycle_counts_and_results(
    anthropic_provider: ProviderHandle, clock: ManualClock, emulator: AnthropicEmulator
) -> None:
    emulator.state.error_ids = {"req-2"}
    handle = await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(5)))
    early = await anthropic_provider.poll_status(handle)
    assert early.status is BatchStatus.IN_PROGRESS
    assert early.request_counts.processing == 5 and early.request_counts.succeeded == 0
    assert early.raw["results_url"] is None
    clock.advance(60)
    done = await anthropic_provider.poll_status(handle)
    assert done.status is BatchStatus.COMPLETED and done.raw_status == "ended"
    assert done.request_counts.succeeded == 4 and done.request_counts.errored == 1
    assert done.raw["results_url"].startswith("http://127.0.0.1:")  # absolute, from the Host header
    results = {r.custom_id: r async for r in anthropic_provider.fetch_results(handle)}
    assert len(results) == 5
    assert results["req-2"].status is ResultStatus.ERRORED
    assert results["req-0"].text == "Emulated answer to: What is 0 plus 0?"
    assert results["req-0"].usage.cached_tokens == 0  # type: ignore[union-attr]


async def test_all_expired_is_expired_and_partial_is_completed(
    anthropic_provider: ProviderHandle,
    clock: ManualClock,
    emulator: AnthropicEmulator,
) -> None:
    emulator.state.next_per_request_s = 100000  # nothing finishes within 24 h
    h1 = await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(3)))
    emulator.state.next_per_request_s = 86400 / 2.5  # two of five finish
    h2 = await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(5)))
    clock.advance(86400 + 1)
    r1 = await anthropic_provider.poll_status(h1)
    r2 = await anthropic_provider.poll_status(h2)
    assert r1.status is BatchStatus.EXPIRED and r1.raw_status == "ended.expired"
    assert r2.status is BatchStatus.COMPLETED and r2.request_counts.expired == 3
    statuses = [r.status async for r in anthropic_provider.fetch_results(h2)]
    assert statuses.count(ResultStatus.EXPIRED) == 3 and statuses.count(ResultStatus.SUCCEEDED) == 2


async def test_cancel_mid_run(
    anthropic_provider: ProviderHandle, clock: ManualClock, emulator: AnthropicEmulator
) -> None:
    emulator.state.next_per_request_s = 10
    handle = await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(10)))
    clock.advance(35)
    report = await anthropic_provider.cancel(handle)
    assert report.status is BatchStatus.CANCELLING and report.cancelling_at is not None
    clock.advance(60)
    report = await anthropic_provider.poll_status(handle)
    assert report.status is BatchStatus.CANCELLED and report.raw_status == "ended.cancelled"
    statuses = [r.status async for r in anthropic_provider.fetch_results(handle)]
    assert len(statuses) == 10
    assert (
        statuses.count(ResultStatus.SUCCEEDED) == 3 and statuses.count(ResultStatus.CANCELLED) == 7
    )


@pytest.mark.parametrize("kind", ["rate_limit", "overloaded", "server_error", "drop"])
async def test_transient_faults_are_survived(
    kind: str, anthropic_provider: ProviderHandle, clock: ManualClock, emulator: AnthropicEmulator
) -> None:
    handle = await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(6)))
    clock.advance(60)
    emulator.faults.add("GET /v1/messages/batches/*", kind, times=2, retry_after=1)
    assert (await anthropic_provider.poll_status(handle)).status is BatchStatus.COMPLETED
    emulator.faults.add("GET /v1/messages/batches/*/results", "truncate", times=2)
    results = [r async for r in anthropic_provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == [f"req-{i}" for i in range(6)]


async def test_rate_limit_hint_and_no_submit_retry(
    anthropic_provider: ProviderHandle, emulator: AnthropicEmulator
) -> None:
    emulator.faults.add("POST /v1/messages/batches", "overloaded", retry_after=4)
    with pytest.raises(ProviderTransientError) as exc:
        await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(2)))
    assert exc.value.status_code == 529 and exc.value.retry_after == 4
    assert emulator.state.batches == {}
    emulator.state.api_key = "sk-ant-right"
    with pytest.raises(ProviderPermanentError) as denied:
        await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(2)))
    assert denied.value.status_code == 401 and "sk-ant-test-emulator" not in str(denied.value)


async def test_bad_input_never_reaches_the_service(
    anthropic_provider: ProviderHandle, emulator: AnthropicEmulator
) -> None:
    for batch in (
        chat_batch(2, max_output_tokens=None),
        chat_batch(2, presence_penalty=1.0),
        InputBatch(requests=chat_batch(2).requests * 2, params=chat_batch(1).params),
    ):
        with pytest.raises(ValidationError):
            anthropic_provider.prepare(batch)
    assert emulator.requests_seen == {}


async def test_delete_and_x_api_key(
    anthropic_provider: ProviderHandle, clock: ManualClock, server: Any
) -> None:
    import httpx2 as httpx

    handle = await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(1)))
    url = f"{server.url}/v1/messages/batches/{handle.batch_id}"
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    early = httpx.delete(url, headers=headers)
    assert early.status_code == 400 and early.json()["error"]["type"] == "invalid_request_error"
    clock.advance(60)
    assert httpx.get(url, headers=headers).json()["processing_status"] == "ended"
    assert httpx.delete(url, headers=headers).json() == {
        "id": handle.batch_id,
        "type": "message_batch_deleted",
    }


async def test_find_job_offers_candidates_by_time_and_size_never_a_proven_match(
    anthropic_provider: ProviderHandle, clock: ManualClock
) -> None:
    from batch_router_core.errors import UnverifiedCandidatesError
    from batch_router_core.files import new_local_id

    local = new_local_id()
    h = await anthropic_provider.submit(
        anthropic_provider.prepare(
            chat_batch(3),
        )
    )
    h2 = await anthropic_provider.submit(
        anthropic_provider.prepare(
            chat_batch(3),
        )
    )
    with pytest.raises(UnverifiedCandidatesError) as info:
        await anthropic_provider.find_job(local, 3)
    assert {c.batch_id for c in info.value.candidates} == {h.batch_id, h2.batch_id}
    # Batches the ledger already holds are never candidates.
    with pytest.raises(UnverifiedCandidatesError) as info:
        await anthropic_provider.find_job(local, 3, known_batch_ids=frozenset({h.batch_id}))
    assert [c.batch_id for c in info.value.candidates] == [h2.batch_id]
    assert (
        await anthropic_provider.find_job(
            local, 3, known_batch_ids=frozenset({h.batch_id, h2.batch_id})
        )
        is None
    )
    assert await anthropic_provider.find_job(local, 7) is None


async def test_delete_ended_batches_through_the_plugin(
    anthropic_provider: ProviderHandle, clock: ManualClock, emulator: AnthropicEmulator
) -> None:
    handle = await anthropic_provider.submit(anthropic_provider.prepare(chat_batch(2)))
    with pytest.raises(ProviderPermanentError, match="HTTP 400"):
        await anthropic_provider.delete_job(handle)  # not ended yet
    clock.advance(60)
    assert await anthropic_provider.delete_job(handle) is True
    assert handle.batch_id not in emulator.state.batches


async def test_online_group_execution(
    anthropic_provider: ProviderHandle, emulator: AnthropicEmulator
) -> None:
    from batch_router_core import InferenceParams, InputMessage, InputRequest

    reqs = [
        InputRequest(custom_id=f"o{i}", messages=[InputMessage.user(f"ping {i}")]) for i in range(3)
    ]
    reqs.append(InputRequest(custom_id="bad", messages=[InputMessage.user("x")]))
    params = InferenceParams(
        provider_id="anthropic", model_id="claude-haiku-4-5", max_output_tokens=20
    )
    results = await anthropic_provider.execute_now(reqs[:3], params)
    assert [r.text for r in results] == [f"Emulated answer to: ping {i}" for i in range(3)]
    assert emulator.state.sync_calls == 3
    bad = await anthropic_provider.execute_now(
        reqs[3:],
        InferenceParams(
            provider_id="anthropic", model_id="claude-nonexistent", max_output_tokens=5
        ),
    )
    assert bad[0].status is ResultStatus.ERRORED and bad[0].error.status_code == 404  # type: ignore[union-attr]
