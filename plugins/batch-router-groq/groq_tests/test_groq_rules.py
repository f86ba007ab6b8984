"""What is Groq's own, through the ``groq`` SDK over loopback HTTP against the emulator: the
completion window from 24 hours to 7 days, chat only, the paths under ``/openai/v1``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import groq
import pytest
from batch_router_groq.emulator import GroqEmulator

from batch_router_core import (
    BatchMode,
    BatchProviderRegistry,
    BatchStatus,
    InferenceParams,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.testing import question_batch

MODEL = "llama-3.1-8b-instant"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _groq(registry: BatchProviderRegistry, server: RunningServer, **options: Any) -> Any:
    return registry.get("groq", base_url=server.url, api_key="gsk-test", **options)


async def test_a_seven_day_window_outlives_a_day_and_then_expires(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: GroqEmulator,
    clock: ManualClock,
) -> None:
    provider = _groq(batch_router_registry, server, completion_window="7d")
    emulator.stall_next_job()  # far slower than any window
    handle = await provider.submit(provider.prepare(question_batch("groq", MODEL, 3)))
    created = emulator.state.batches[handle.batch_id]
    assert created.completion_window == "7d"
    clock.advance(2 * 86400)  # past OpenAI's 24 hours: still running on Groq's 7 days
    report = await provider.poll_status(handle)
    assert report.status is BatchStatus.IN_PROGRESS
    assert report.expires_at is not None and report.created_at is not None
    assert (report.expires_at - report.created_at).total_seconds() == 7 * 86400
    clock.advance(6 * 86400)
    report = await provider.poll_status(handle)
    assert report.status is BatchStatus.EXPIRED
    results = [r async for r in provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == ["req-0", "req-1", "req-2"]
    assert {r.status for r in results} == {ResultStatus.EXPIRED}


async def test_the_default_window_is_a_day(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: GroqEmulator,
    clock: ManualClock,
) -> None:
    provider = _groq(batch_router_registry, server)
    emulator.stall_next_job()
    handle = await provider.submit(provider.prepare(question_batch("groq", MODEL, 2)))
    clock.advance(86400 + 1)
    assert (await provider.poll_status(handle)).status is BatchStatus.EXPIRED


@pytest.mark.parametrize("window", ["12h", "8d", "1w", "soon"])
def test_a_window_outside_groqs_range_is_refused_before_anything_is_sent(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: GroqEmulator,
    window: str,
) -> None:
    provider = _groq(batch_router_registry, server, completion_window=window)
    with pytest.raises(ValidationError) as err:
        provider.prepare(question_batch("groq", MODEL, 2))
    assert err.value.issues[0].field == "completion_window"
    assert "from 24h to 7d" in str(err.value) and repr(window) in str(err.value)
    assert emulator.requests_seen == {}


def test_the_emulator_answers_the_sdk_as_groq_does(server: RunningServer) -> None:
    client = groq.Groq(api_key="gsk-test", base_url=server.url, max_retries=0)
    line = {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    }
    uploaded = client.files.create(
        file=("in.jsonl", json.dumps(line).encode() + b"\n"), purpose="batch"
    )
    with pytest.raises(groq.BadRequestError, match="completion_window"):
        client.batches.create(
            input_file_id=str(uploaded.id), endpoint="/v1/chat/completions", completion_window="9d"
        )
    with pytest.raises(groq.BadRequestError, match="endpoint"):
        client.batches.create(
            input_file_id=str(uploaded.id),
            endpoint="/v1/embeddings",  # type: ignore[arg-type]
            completion_window="24h",
        )
    created = client.batches.create(
        input_file_id=str(uploaded.id), endpoint="/v1/chat/completions", completion_window="48h"
    )
    assert created.expires_at == created.created_at + 48 * 3600
    assert [b.id for b in client.batches.list().data] == [created.id]
    with pytest.raises(groq.AuthenticationError):
        groq.Groq(api_key="gsk-wrong", base_url=server.url, max_retries=0).batches.list()


def test_groq_batches_chat_only(batch_router_registry: BatchProviderRegistry) -> None:
    provider = batch_router_registry.get("groq")
    assert provider.info.modes == (BatchMode.CHAT,)
    batch = question_batch("groq", MODEL, 1).with_params(
        InferenceParams(provider_id="groq", model_id=MODEL, mode=BatchMode.EMBEDDING)
    )
    with pytest.raises(ValidationError):
        provider.prepare(batch)
