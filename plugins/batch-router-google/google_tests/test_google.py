"""Google plugin: conversion, fixture parsing, and the full cycle through google-genai against the
emulator,
in inline and file mode, for generation and embeddings."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from batch_router_google.emulator import GoogleEmulator
from batch_router_google.parse import parse_item

from batch_router_core import (
    BatchProviderRegistry,
    BatchStatus,
    ImageContent,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ProviderPermanentError,
    ProviderTransientError,
    ResultStatus,
    TextContent,
    ValidationError,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.registry.handle import ProviderHandle

from .conftest import DATA, chat_batch


def test_conversion_snake_case_with_system_config_and_parts(
    batch_router_registry: BatchProviderRegistry,
) -> None:
    provider = batch_router_registry.get("google")
    msg = InputMessage(
        role="user",
        contents=[
            TextContent(text="Look"),
            ImageContent(url="gs://b/cat.png", media_type="image/png"),
            ImageContent(data="iVBO", media_type="image/png"),
        ],
    )
    batch = InputBatch(
        requests=[
            InputRequest(
                custom_id="k1",
                messages=[msg, InputMessage.assistant("Yes"), InputMessage.user("More")],
            )
        ]
    ).with_params(
        InferenceParams(
            provider_id="google",
            model_id="gemini-2.5-flash",
            system_prompt="Be kind.",
            temperature=0.5,
            top_p=0.9,
            top_k=20,
            max_output_tokens=99,
            stop_sequences=["X"],
            presence_penalty=0.1,
            frequency_penalty=0.2,
            provider_kwargs={"tools": [{"google_search": {}}]},
        )
    )
    provider.validate(batch)
    [line] = [orjson.loads(x) for x in provider.prepare_payloads(batch).lines]
    req = line["request"]
    assert line["key"] == "k1"
    assert req["system_instruction"] == {"parts": [{"text": "Be kind."}]}
    assert req["generation_config"] == {
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 20,
        "max_output_tokens": 99,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "stop_sequences": ["X"],
    }
    assert req["tools"] == [{"google_search": {}}]
    assert [c["role"] for c in req["contents"]] == ["user", "model", "user"]
    assert req["contents"][0]["parts"][1] == {
        "file_data": {"file_uri": "gs://b/cat.png", "mime_type": "image/png"}
    }
    assert req["contents"][0]["parts"][2] == {
        "inline_data": {"mime_type": "image/png", "data": "iVBO"}
    }


def test_every_fixture_line_and_operation_parses() -> None:
    for raw in (DATA / "fixtures" / "gemini_batch_output.jsonl").read_bytes().splitlines():
        line = orjson.loads(raw)
        r = parse_item(line["key"], line)
        assert r.status is ResultStatus.SUCCEEDED and r.text and r.custom_id == line["key"]
        assert r.usage.total_tokens == line["response"]["usageMetadata"]["totalTokenCount"]  # type: ignore[union-attr]
    from batch_router_google.plugin import _report

    from batch_router_core.plugin.context import ProviderContext

    ctx = ProviderContext(info=BatchProviderRegistry(overrides={}).info("google"))
    for raw in (DATA / "fixtures" / "gemini_batch_operations.jsonl").read_bytes().splitlines():
        op = orjson.loads(raw)
        report = _report(op, ctx)
        stats = op["metadata"]["batchStats"]
        assert report.request_counts.total == int(stats["requestCount"])
        if op["metadata"]["state"] == "BATCH_STATE_SUCCEEDED":
            assert report.status is BatchStatus.COMPLETED
            assert report.request_counts.succeeded == int(stats["successfulRequestCount"])
        else:
            assert report.status is BatchStatus.VALIDATING and report.request_counts.processing == 2
    err = parse_item("x", {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}})
    assert err.status is ResultStatus.ERRORED and err.error.status_code == 400  # type: ignore[union-attr]


async def test_generation_cycle(
    google_provider: ProviderHandle, clock: ManualClock, emulator: GoogleEmulator
) -> None:
    emulator.state.error_ids = {"req-1"}
    handle = await google_provider.submit(
        google_provider.prepare(chat_batch(4, max_output_tokens=50))
    )
    assert handle.batch_id.startswith("batches/")
    first = await google_provider.poll_status(handle)
    assert first.status is BatchStatus.VALIDATING and first.request_counts.total == 4
    clock.advance(600)
    done = await google_provider.poll_status(handle)
    assert done.status is BatchStatus.COMPLETED and done.request_counts.succeeded == 3
    assert done.request_counts.errored == 1
    results = {r.custom_id: r async for r in google_provider.fetch_results(handle)}
    assert len(results) == 4 and results["req-1"].status is ResultStatus.ERRORED
    assert results["req-2"].text == "Emulated answer to: What is 2 plus 2?"
    job = next(iter(emulator.state.jobs.values()))
    assert job.display_name == handle.local_id  # tagged for crash recovery


async def test_embeddings_cycle(
    batch_router_registry: BatchProviderRegistry, server: RunningServer, clock: ManualClock
) -> None:
    provider = batch_router_registry.get("google", base_url=server.url, api_key="k")
    batch = chat_batch(3, model="gemini-embedding-001", mode="embedding", embedding_dimensions=16)
    handle = await provider.submit(provider.prepare(batch))
    clock.advance(600)
    assert (await provider.poll_status(handle)).status is BatchStatus.COMPLETED
    results = [r async for r in provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == ["req-0", "req-1", "req-2"]
    assert all(r.embedding is not None and len(r.embedding) == 16 for r in results)


@pytest.mark.parametrize("version", ["v1", "v1beta"])
async def test_both_api_versions(
    version: str,
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    clock: ManualClock,
    emulator: GoogleEmulator,
) -> None:
    provider = batch_router_registry.get(
        "google", base_url=server.url, api_key="k", api_version=version, mode="file"
    )
    handle = await provider.submit(provider.prepare(chat_batch(2)))
    clock.advance(600)
    assert (await provider.poll_status(handle)).status is BatchStatus.COMPLETED
    assert len([r async for r in provider.fetch_results(handle)]) == 2
    assert any(k.endswith(version) or version in k for k in emulator.requests_seen)


async def test_expiry_and_cancel_account_for_every_request(
    google_provider: ProviderHandle, clock: ManualClock, emulator: GoogleEmulator
) -> None:
    emulator.state.next_per_request_s = 100000
    expiring = await google_provider.submit(google_provider.prepare(chat_batch(3)))
    emulator.state.next_per_request_s = 100
    cancelled = await google_provider.submit(google_provider.prepare(chat_batch(2)))
    clock.advance(60)
    assert (await google_provider.cancel(cancelled)).status is BatchStatus.CANCELLED
    clock.advance(48 * 3600)
    assert (await google_provider.poll_status(expiring)).status is BatchStatus.EXPIRED
    assert {r.status async for r in google_provider.fetch_results(expiring)} == {
        ResultStatus.EXPIRED
    }
    assert {r.status async for r in google_provider.fetch_results(cancelled)} == {
        ResultStatus.CANCELLED
    }


@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "unavailable", "drop"])
async def test_transient_faults(
    kind: str, google_provider: ProviderHandle, clock: ManualClock, emulator: GoogleEmulator
) -> None:
    handle = await google_provider.submit(google_provider.prepare(chat_batch(5)))
    clock.advance(600)
    emulator.faults.add("GET /v1beta/batches/*", kind, times=2, retry_after=1)
    assert (await google_provider.poll_status(handle)).status is BatchStatus.COMPLETED
    emulator.faults.add("GET /v1beta/files/*", "truncate", times=1)
    emulator.faults.add("GET /v1beta/batches/*", "drop", times=1)
    results = [r async for r in google_provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == [f"req-{i}" for i in range(5)]


async def test_submit_not_retried_and_auth_is_permanent(
    google_provider: ProviderHandle, emulator: GoogleEmulator
) -> None:
    emulator.faults.add("POST /v1beta/models/*", "rate_limit", retry_after=3)
    with pytest.raises(ProviderTransientError) as exc:
        await google_provider.submit(google_provider.prepare(chat_batch(1)))
    assert exc.value.status_code == 429
    assert emulator.state.jobs == {}
    emulator.faults.add("GET /v1beta/batches/*", "unauthorized")
    handle = await google_provider.submit(google_provider.prepare(chat_batch(1)))
    with pytest.raises(ProviderPermanentError):
        await google_provider.poll_status(handle)


def test_bad_input_before_upload(batch_router_registry: BatchProviderRegistry) -> None:
    provider = batch_router_registry.get("google")
    with pytest.raises(ValidationError, match="does not apply to embeddings"):
        provider.prepare(
            chat_batch(1, model="gemini-embedding-001", mode="embedding", temperature=0.2)
        )
    with pytest.raises(ValidationError, match="not supported by google"):
        provider.prepare(chat_batch(1, model="gpt-4o"))
    with pytest.raises(ValidationError, match="duplicate custom_id"):
        provider.prepare(
            InputBatch(requests=chat_batch(2).requests * 2, params=chat_batch(1).params)
        )


def test_seed_001_readme_example(
    tmp_path: Path, server: RunningServer, emulator: GoogleEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 001's README example, as written apart from import paths, against the emulator."""
    import time

    from batch_router_core.emulation.clock import SystemClock

    emulator.state.clock = SystemClock(speed=100000.0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOOGLE_API_KEY", "emulator-key")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)

    from batch_router_google import GoogleGenAIProvider

    from batch_router_core import BatchStatus, InferenceParams, ProviderId, TextContent
    from batch_router_core.models import InputBatch, InputMessage, InputMessageRole, InputRequest

    provider = GoogleGenAIProvider()
    requests = [
        InputRequest(
            custom_id=f"request_{i + 1}",
            messages=[
                InputMessage(
                    role=InputMessageRole.USER, contents=[TextContent(text="Hello, how are you?")]
                )
            ],
        )
        for i in range(5)
    ]
    input_batch = InputBatch(requests=requests)
    google_params = InferenceParams(
        model_id="gemini-1.5-flash",
        provider_id=ProviderId.GOOGLE,
        system_prompt="Answer like a pirate.",
        max_output_tokens=128,
    )
    google_genai_batch = input_batch.with_params(google_params)
    batch_id = provider.send_batch(google_genai_batch)
    while provider.poll_status(batch_id) != BatchStatus.COMPLETED:
        status = provider.poll_status(batch_id)
        if status in [BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.EXPIRED]:
            break
        time.sleep(0.05)
    seen = []
    if provider.poll_status(batch_id) == BatchStatus.COMPLETED:
        results = provider.get_results(batch_id)
        for request in results.requests:
            for msg in request.messages:
                for content in msg.contents:
                    if hasattr(content, "text"):
                        seen.append((request.custom_id, content.text))
    assert sorted(c for c, _ in seen) == [f"request_{i + 1}" for i in range(5)]
    assert all(t.startswith("Emulated answer to: Hello") for _, t in seen)


async def test_online_group_execution(
    batch_router_registry: BatchProviderRegistry, server: RunningServer, emulator: GoogleEmulator
) -> None:
    provider = batch_router_registry.get("google", base_url=server.url, api_key="k")
    reqs = [
        InputRequest(custom_id=f"o{i}", messages=[InputMessage.user(f"ping {i}")]) for i in range(3)
    ]
    chat = await provider.execute_now(
        reqs, InferenceParams(provider_id="google", model_id="gemini-2.5-flash")
    )
    assert [r.text for r in chat] == [f"Emulated answer to: ping {i}" for i in range(3)]
    assert emulator.state.sync_calls == 3
    emb = await provider.execute_now(
        reqs,
        InferenceParams(
            provider_id="google",
            model_id="gemini-embedding-001",
            mode="embedding",
            embedding_dimensions=4,
        ),
    )
    assert all(r.embedding is not None and len(r.embedding) == 4 for r in emb)
    assert emulator.state.sync_calls == 4  # three embeddings, one call
