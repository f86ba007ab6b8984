"""What is Together's own, through the ``together`` SDK over loopback HTTP against the emulator:
the three-step upload, jobs found by their input file's name (no metadata), progress instead of
counts, 64-character custom_ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import together
from batch_router_together.emulator import TogetherEmulator, create_app

from batch_router_core import (
    BatchProviderRegistry,
    BatchStatus,
    InputBatch,
    InputMessage,
    InputRequest,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.testing import question_batch

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_760_000_000.0)


@pytest.fixture
def emulator(clock: ManualClock, tmp_path: Path) -> TogetherEmulator:
    emu = create_app({"api_key": "together-test", "workdir": tmp_path, "per_request_s": 10})
    emu.state.clock = clock
    return emu


@pytest.fixture
def server(emulator: TogetherEmulator, batch_router_serve: Callable[[Any], RunningServer]) -> Any:
    return batch_router_serve(emulator)


def _together(registry: BatchProviderRegistry, server: RunningServer, **options: Any) -> Any:
    return registry.get("together", base_url=server.url, api_key="together-test", **options)


async def test_a_job_uploads_in_three_steps_and_reports_progress(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: TogetherEmulator,
    clock: ManualClock,
) -> None:
    provider = _together(batch_router_registry, server)
    prepared = provider.prepare(question_batch("together", MODEL, 4))
    lines = [json.loads(line) for line in prepared.path.read_text().splitlines()]
    assert {tuple(sorted(line)) for line in lines} == {("body", "custom_id")}
    assert {line["body"]["model"] for line in lines} == {MODEL}
    handle = await provider.submit(prepared)
    # Announce, signed PUT, preprocess; then the create.
    assert emulator.requests_seen == {"POST files": 2, "PUT upload": 1, "POST batches": 1}
    clock.advance(5 + 20)  # validated, then two of four requests at 10 s each
    running = await provider.poll_status(handle)
    assert running.raw_status == "IN_PROGRESS" and running.status is BatchStatus.IN_PROGRESS
    assert running.request_counts.total == 4 and running.request_counts.succeeded == 2
    assert running.request_counts.processing == 2
    clock.advance(3600)
    done = await provider.poll_status(handle)
    assert done.status is BatchStatus.COMPLETED and done.ended_at is not None
    results = [r async for r in provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == [f"req-{i}" for i in range(4)]
    assert {r.status for r in results} == {ResultStatus.SUCCEEDED}


async def test_a_lost_job_is_adopted_only_by_its_input_files_name(
    batch_router_registry: BatchProviderRegistry, server: RunningServer, tmp_path: Path
) -> None:
    provider = _together(batch_router_registry, server)
    mine = await provider.submit(provider.prepare(question_batch("together", MODEL, 2)))
    # Someone else's job, on a file of another name: never adopted.
    other = tmp_path / "someone_else.jsonl"
    other.write_text(
        json.dumps({"custom_id": "x", "body": {"model": MODEL, "messages": []}}) + "\n"
    )
    client = together.Together(api_key="together-test", base_url=server.url, max_retries=0)
    uploaded = client.files.upload(other, purpose="batch-api")
    client.batches.create(endpoint="/v1/chat/completions", input_file_id=uploaded.id)
    found = await provider.find_job(mine.local_id)
    assert found is not None and found.batch_id == mine.batch_id and found.request_count == 2
    assert await provider.find_job("br-20260101T000000-0000000000000000") is None


async def test_a_job_runs_until_the_deadline_of_its_window(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: TogetherEmulator,
    clock: ManualClock,
) -> None:
    provider = _together(batch_router_registry, server, completion_window="2d")
    emulator.stall_next_job()
    handle = await provider.submit(provider.prepare(question_batch("together", MODEL, 2)))
    clock.advance(30 * 3600)  # past a day: still within two
    report = await provider.poll_status(handle)
    assert report.raw_status == "IN_PROGRESS"
    assert report.expires_at is not None and report.created_at is not None
    assert (report.expires_at - report.created_at).total_seconds() == 48 * 3600
    clock.advance(19 * 3600)
    report = await provider.poll_status(handle)
    assert report.raw_status == "EXPIRED" and report.status is BatchStatus.EXPIRED
    results = [r async for r in provider.fetch_results(handle)]
    assert {r.status for r in results} == {ResultStatus.EXPIRED} and len(results) == 2


@pytest.mark.parametrize("window", ["soon", "0h", "1w"])
def test_a_window_that_is_no_duration_is_refused_before_anything_is_sent(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: TogetherEmulator,
    window: str,
) -> None:
    provider = _together(batch_router_registry, server, completion_window=window)
    with pytest.raises(ValidationError) as err:
        provider.prepare(question_batch("together", MODEL, 1))
    assert err.value.issues[0].field == "completion_window"
    assert emulator.requests_seen == {}


def test_a_custom_id_over_64_characters_is_refused_before_anything_is_sent(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: TogetherEmulator,
) -> None:
    provider = _together(batch_router_registry, server)
    long_id = "q-" + "x" * 63
    batch = InputBatch(
        requests=[InputRequest(custom_id=long_id, messages=[InputMessage.user("hi")])]
    ).with_params(question_batch("together", MODEL, 1).configured_params)
    with pytest.raises(ValidationError) as err:
        provider.prepare(batch)
    assert err.value.issues[0].custom_id == long_id
    assert err.value.issues[0].field == "custom_id"
    assert emulator.requests_seen == {}


def test_the_emulator_checks_the_upload_as_together_does(server: RunningServer) -> None:
    client = together.Together(api_key="together-test", base_url=server.url, max_retries=0)
    with pytest.raises(together.AuthenticationError):
        together.Together(api_key="wrong", base_url=server.url, max_retries=0).batches.list()
    assert client.batches.list() == []
    with pytest.raises(together.NotFoundError):
        client.batches.create(endpoint="/v1/chat/completions", input_file_id="file-none")
