"""What is Mistral's own, through the ``mistralai`` SDK over loopback HTTP against the emulator:
jobs with timeout_hours, Mistral's statuses, lines without a model and with Mistral's names."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from batch_router_mistral.emulator import MistralEmulator, create_app

from batch_router_core import (
    BatchProviderRegistry,
    BatchStatus,
    InferenceParams,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.testing import question_batch

MODEL = "mistral-small-latest"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_760_000_000.0)


@pytest.fixture
def emulator(clock: ManualClock, tmp_path: Path) -> MistralEmulator:
    emu = create_app({"api_key": "mistral-test", "workdir": tmp_path})
    emu.state.clock = clock
    return emu


@pytest.fixture
def server(emulator: MistralEmulator, batch_router_serve: Callable[[Any], RunningServer]) -> Any:
    return batch_router_serve(emulator)


def _mistral(registry: BatchProviderRegistry, server: RunningServer, **options: Any) -> Any:
    return registry.get("mistral", base_url=server.url, api_key="mistral-test", **options)


async def test_a_job_runs_through_mistrals_statuses_with_the_model_on_the_job(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: MistralEmulator,
    clock: ManualClock,
) -> None:
    provider = _mistral(batch_router_registry, server)
    batch = question_batch("mistral", MODEL, 3, seed=7, max_output_tokens=20)
    prepared = provider.prepare(batch)
    lines = [json.loads(line) for line in prepared.path.read_text().splitlines()]
    assert {tuple(sorted(line)) for line in lines} == {("body", "custom_id")}
    assert all("model" not in line["body"] and line["body"]["random_seed"] == 7 for line in lines)
    handle = await provider.submit(prepared)
    job = emulator.state.batches[handle.batch_id]
    assert job.model == MODEL and job.metadata == {"batch_router_local_id": handle.local_id}
    seen = [(await provider.poll_status(handle)).raw_status]
    clock.advance(6)
    seen.append((await provider.poll_status(handle)).raw_status)
    clock.advance(3600)
    end = await provider.poll_status(handle)
    seen.append(end.raw_status)
    assert seen == ["QUEUED", "RUNNING", "SUCCESS"] and end.status is BatchStatus.COMPLETED
    results = [r async for r in provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == ["req-0", "req-1", "req-2"]
    assert all(r.status is ResultStatus.SUCCEEDED and r.model == MODEL for r in results)
    assert all(r.usage is not None and r.usage.prompt_tokens > 0 for r in results)


async def test_timeout_hours_ends_a_job_as_timeout_exceeded(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: MistralEmulator,
    clock: ManualClock,
) -> None:
    provider = _mistral(batch_router_registry, server, timeout_hours="72")
    emulator.stall_next_job()
    handle = await provider.submit(provider.prepare(question_batch("mistral", MODEL, 2)))
    clock.advance(48 * 3600)  # past the default day: still running on 72 hours
    report = await provider.poll_status(handle)
    assert report.raw_status == "RUNNING" and report.status is BatchStatus.IN_PROGRESS
    clock.advance(25 * 3600)
    report = await provider.poll_status(handle)
    assert report.raw_status == "TIMEOUT_EXCEEDED" and report.status is BatchStatus.EXPIRED
    results = [r async for r in provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == ["req-0", "req-1"]
    assert {r.status for r in results} == {ResultStatus.EXPIRED}


async def test_cancel_goes_through_cancellation_requested(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: MistralEmulator,
    clock: ManualClock,
) -> None:
    provider = _mistral(batch_router_registry, server)
    emulator.stall_next_job()
    handle = await provider.submit(provider.prepare(question_batch("mistral", MODEL, 2)))
    clock.advance(10)
    report = await provider.cancel(handle)
    assert report.raw_status == "CANCELLATION_REQUESTED"
    assert report.status is BatchStatus.CANCELLING
    clock.advance(60)
    report = await provider.poll_status(handle)
    assert report.raw_status == "CANCELLED" and report.status is BatchStatus.CANCELLED
    results = [r async for r in provider.fetch_results(handle)]
    assert {r.status for r in results} == {ResultStatus.CANCELLED} and len(results) == 2


@pytest.mark.parametrize("hours", ["0", "169", "2.5", "soon"])
def test_a_timeout_outside_mistrals_range_is_refused_before_anything_is_sent(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: MistralEmulator,
    hours: str,
) -> None:
    provider = _mistral(batch_router_registry, server, timeout_hours=hours)
    with pytest.raises(ValidationError) as err:
        provider.prepare(question_batch("mistral", MODEL, 2))
    assert err.value.issues[0].field == "timeout_hours" and repr(hours) in str(err.value)
    assert emulator.requests_seen == {}


async def test_a_lost_job_is_found_by_its_tag_among_many(
    batch_router_registry: BatchProviderRegistry, server: RunningServer
) -> None:
    provider = _mistral(batch_router_registry, server)
    handles = [
        await provider.submit(provider.prepare(question_batch("mistral", MODEL, 1)))
        for _ in range(3)
    ]
    found = await provider.find_job(handles[0].local_id)
    assert found is not None and found.batch_id == handles[0].batch_id
    assert found.model == MODEL
    assert await provider.find_job("br-no-such-job") is None


async def test_embeddings_and_the_online_path(
    batch_router_registry: BatchProviderRegistry, server: RunningServer
) -> None:
    provider = _mistral(batch_router_registry, server)
    batch = question_batch("mistral", "mistral-embed", 2)
    params = InferenceParams(provider_id="mistral", model_id="mistral-embed", mode="embedding")
    results = await provider.execute_now(batch.requests, params)
    assert [r.custom_id for r in results] == ["req-0", "req-1"]
    assert all(r.embedding for r in results)
    chat = InferenceParams(provider_id="mistral", model_id=MODEL, max_output_tokens=16)
    answers = await provider.execute_now(question_batch("mistral", MODEL, 2).requests, chat)
    assert all(r.status is ResultStatus.SUCCEEDED and r.text for r in answers)
