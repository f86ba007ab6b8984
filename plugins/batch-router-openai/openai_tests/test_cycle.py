"""The full cycle through the official openai SDK over loopback HTTP against the emulator.

No mocks: the plugin's AsyncOpenAI client speaks HTTP to the emulator served by uvicorn; faults are
injected by the emulator itself.
"""

from __future__ import annotations

from typing import Any

import pytest
from batch_router_openai.emulator import OpenAIEmulator

from batch_router_core import (
    BatchStatus,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ProviderPermanentError,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.registry.handle import ProviderHandle

from .conftest import chat_batch


async def run(
    provider: ProviderHandle, clock: ManualClock, batch: InputBatch, *, advance: float = 3600
) -> tuple[Any, list[Any]]:
    handle = await provider.submit(provider.prepare(batch))
    clock.advance(advance)
    report = await provider.poll_status(handle)
    results = [r async for r in provider.fetch_results(handle)] if report.is_terminal else []
    return report, results


async def test_chat_cycle(
    openai_provider: ProviderHandle, clock: ManualClock, emulator: OpenAIEmulator
) -> None:
    handle = await openai_provider.submit(
        openai_provider.prepare(chat_batch(5, max_output_tokens=50))
    )
    batch = emulator.state.batches[handle.batch_id]
    assert batch.metadata == {"batch_router_local_id": handle.local_id}  # tagged for crash recovery
    first = await openai_provider.poll_status(handle)
    assert first.status is BatchStatus.VALIDATING and first.request_counts.total == 0
    clock.advance(6)
    mid = await openai_provider.poll_status(handle)
    assert mid.status is BatchStatus.IN_PROGRESS and mid.request_counts.total == 5
    assert mid.started_at is not None and mid.expires_at is not None
    clock.advance(3600)
    end = await openai_provider.poll_status(handle)
    assert end.status is BatchStatus.COMPLETED and end.request_counts.succeeded == 5
    assert end.ended_at is not None and end.raw["usage"]["total_tokens"] > 0
    results = [r async for r in openai_provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == [f"req-{i}" for i in range(5)]
    r0 = next(r for r in results if r.custom_id == "req-0")
    assert (
        r0.status is ResultStatus.SUCCEEDED and r0.text == "Emulated answer to: What is 0 plus 0?"
    )
    assert (
        r0.usage is not None
        and r0.usage.total_tokens == r0.usage.prompt_tokens + r0.usage.completion_tokens
    )


async def test_embeddings_cycle(openai_provider: ProviderHandle, clock: ManualClock) -> None:
    report, results = await run(
        openai_provider,
        clock,
        chat_batch(3, model="text-embedding-3-small", mode="embedding", embedding_dimensions=64),
    )
    assert report.status is BatchStatus.COMPLETED
    assert all(r.embedding is not None and len(r.embedding) == 64 for r in results)
    again = {
        r.custom_id: r.embedding
        for r in (
            await run(
                openai_provider,
                clock,
                chat_batch(
                    3, model="text-embedding-3-small", mode="embedding", embedding_dimensions=64
                ),
            )
        )[1]
    }
    assert again == {r.custom_id: r.embedding for r in results}  # deterministic


async def test_responses_and_completions_cycles(
    openai_provider: ProviderHandle, clock: ManualClock
) -> None:
    report, results = await run(
        openai_provider,
        clock,
        chat_batch(
            2,
            system_prompt="Be brief.",
            max_output_tokens=200,
            provider_kwargs={"endpoint": "responses"},
        ),
    )
    assert report.status is BatchStatus.COMPLETED
    assert all(
        r.text and r.text.startswith("Emulated answer") and r.finish_reason == "stop"
        for r in results
    )
    report, results = await run(
        openai_provider,
        clock,
        chat_batch(2, model="gpt-3.5-turbo-instruct", mode="completion", max_output_tokens=3),
    )
    assert all(r.finish_reason == "length" and r.usage.completion_tokens == 3 for r in results)  # type: ignore[union-attr]


async def test_per_request_errors(
    openai_provider: ProviderHandle, clock: ManualClock, emulator: OpenAIEmulator
) -> None:
    emulator.state.error_ids.add("req-1")
    reqs = [*chat_batch(3).requests]
    batch = InputBatch(requests=reqs, params=chat_batch(1).params)
    report, results = await run(openai_provider, clock, batch)
    assert report.status is BatchStatus.COMPLETED
    assert report.request_counts.succeeded == 2 and report.request_counts.errored == 1
    by_id = {r.custom_id: r for r in results}
    assert by_id["req-1"].status is ResultStatus.ERRORED and by_id["req-1"].error.status_code == 400  # type: ignore[union-attr]
    assert len(results) == 3


async def test_unknown_model_in_the_service_is_that_requests_error(
    openai_provider: ProviderHandle,
    clock: ManualClock,
) -> None:
    # The model matches the plugin's patterns, so it is sent; the service does not know it.
    report, results = await run(openai_provider, clock, chat_batch(2, model="gpt-nonexistent-1"))
    assert report.status is BatchStatus.COMPLETED and len(results) == 2
    assert all(
        r.status is ResultStatus.ERRORED
        and r.error.status_code == 404  # type: ignore[union-attr]
        and r.error.code == "model_not_found"
        for r in results
    )


async def test_expiry_with_partial_results(
    openai_provider: ProviderHandle, clock: ManualClock, emulator: OpenAIEmulator
) -> None:
    emulator.state.next_per_request_s = 86400 / 4  # a quarter of the window per request
    handle = await openai_provider.submit(openai_provider.prepare(chat_batch(8)))
    clock.advance(90000)
    report = await openai_provider.poll_status(handle)
    assert report.status is BatchStatus.EXPIRED
    results = [r async for r in openai_provider.fetch_results(handle)]
    statuses = [r.status for r in results]
    assert len(results) == 8
    assert statuses.count(ResultStatus.SUCCEEDED) == 3 and statuses.count(ResultStatus.EXPIRED) == 5


async def test_cancel_mid_run(
    openai_provider: ProviderHandle, clock: ManualClock, emulator: OpenAIEmulator
) -> None:
    emulator.state.next_per_request_s = 10
    handle = await openai_provider.submit(openai_provider.prepare(chat_batch(10)))
    clock.advance(5 + 35)  # validation, then three requests' worth
    report = await openai_provider.cancel(handle)
    assert report.status is BatchStatus.CANCELLING
    clock.advance(60)
    report = await openai_provider.poll_status(handle)
    assert report.status is BatchStatus.CANCELLED
    results = [r async for r in openai_provider.fetch_results(handle)]
    statuses = [r.status for r in results]
    assert len(results) == 10 and len({r.custom_id for r in results}) == 10
    assert (
        statuses.count(ResultStatus.SUCCEEDED) == 3 and statuses.count(ResultStatus.CANCELLED) == 7
    )
    with pytest.raises(ProviderPermanentError, match="HTTP 400"):
        await openai_provider.cancel(handle)  # already ended


async def test_invalid_file_fails_the_batch_with_line_errors(
    openai_provider: ProviderHandle,
    clock: ManualClock,
) -> None:
    # Skip core's validation (it would refuse this) to see the service's own check.
    prepared = openai_provider.prepare(chat_batch(3))
    text = prepared.path.read_bytes().replace(b'"custom_id":"req-2"', b'"custom_id":"req-0"')
    prepared.path.write_bytes(text)
    handle = await openai_provider.submit(prepared)
    clock.advance(10)
    report = await openai_provider.poll_status(handle)
    assert report.status is BatchStatus.FAILED
    assert report.error and "line 3: duplicate_custom_id" in report.error
    results = [r async for r in openai_provider.fetch_results(handle)]
    # one result per distinct custom_id of the file that was sent (req-0 appears twice in it)
    assert sorted(r.custom_id for r in results) == ["req-0", "req-1"]
    assert all(r.status is ResultStatus.ERRORED and r.error.code == "batch_failed" for r in results)  # type: ignore[union-attr]


async def test_bad_input_is_refused_before_any_upload(
    openai_provider: ProviderHandle, emulator: OpenAIEmulator
) -> None:
    dup = InputBatch(
        requests=[*chat_batch(2).requests, *chat_batch(1).requests], params=chat_batch(1).params
    )
    over = chat_batch(3)
    bad_content = InputBatch(
        requests=[InputRequest(custom_id="x", messages=[InputMessage(role="user", contents="hi")])],
        params=InferenceParams(provider_id="openai", model_id="gpt-4o", top_k=3),
    )
    for batch in (dup, bad_content, chat_batch(1, model="llama-3")):
        with pytest.raises(ValidationError):
            openai_provider.prepare(batch)
    from batch_router_core import BatchProviderRegistry

    small = BatchProviderRegistry(
        overrides={"openai": {"limits": {"max_requests": 2}}}, files=openai_provider.context.files
    )
    with pytest.raises(ValidationError, match="exceed openai's limit of 2"):
        small.get("openai").prepare(over)
    assert emulator.requests_seen == {}  # nothing reached the service


async def test_auth_failure_is_permanent(
    openai_provider: ProviderHandle, emulator: OpenAIEmulator
) -> None:
    emulator.state.api_key = "sk-the-right-one"
    with pytest.raises(ProviderPermanentError, match="Incorrect API key") as exc:
        await openai_provider.submit(openai_provider.prepare(chat_batch(1)))
    assert exc.value.status_code == 401
    assert "sk-test-emulator" not in str(exc.value)


async def test_listing_finds_tagged_jobs_with_pagination(
    openai_provider: ProviderHandle, clock: ManualClock, server: Any
) -> None:
    from openai import AsyncOpenAI

    local_ids = []
    for _ in range(5):
        h = await openai_provider.submit(openai_provider.prepare(chat_batch(1)))
        local_ids.append(h.local_id)
        clock.advance(1)
    client = AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    found = [b.metadata["batch_router_local_id"] async for b in client.batches.list(limit=2)]
    assert sorted(found) == sorted(local_ids)
    page = await client.batches.list(limit=2)
    assert page.has_more and len(page.data) == 2
    files = await client.files.list(purpose="batch")
    assert len(files.data) == 5
    await client.close()


async def test_find_job_by_tag_after_a_lost_submit(
    openai_provider: ProviderHandle, clock: ManualClock
) -> None:
    handles = []
    for _ in range(3):
        handles.append(await openai_provider.submit(openai_provider.prepare(chat_batch(2))))
        clock.advance(1)
    found = await openai_provider.find_job(handles[1].local_id)
    assert found is not None and found.batch_id == handles[1].batch_id
    assert found.data["input_file_id"] == handles[1].data["input_file_id"]
    assert await openai_provider.find_job("br-never-submitted") is None
