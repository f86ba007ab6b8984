"""Seed 001's README flow, as written apart from import paths and the provider, on the emulator."""

from __future__ import annotations

import time
from pathlib import Path

from batch_router_openai import OpenAIChatCompletionsProvider
from batch_router_openai.emulator import OpenAIEmulator

from batch_router_core import BatchStatus, InferenceParams, ProviderId, TextContent
from batch_router_core.emulation.clock import SystemClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.models import InputBatch, InputMessage, InputMessageRole, InputRequest


def test_seed_001_readme_flow(
    tmp_path: Path, server: RunningServer, emulator: OpenAIEmulator, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    emulator.state.clock = SystemClock(speed=100000.0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-emulator")

    # 1. Initialize the provider (keys from the environment)
    provider = OpenAIChatCompletionsProvider()
    # 2. Create requests
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
    # 3. Create an InputBatch
    input_batch = InputBatch(requests=requests)
    # 4. Configure Inference Parameters
    params = InferenceParams(
        model_id="gpt-4o-mini",
        provider_id=ProviderId.OPENAI,
        system_prompt="Answer like a pirate.",
        max_output_tokens=128,
    )
    # 5. Apply parameters to the batch
    batch = input_batch.with_params(params)
    # 6. Send the batch
    batch_id = provider.send_batch(batch)
    # 7. Poll for completion
    deadline = time.monotonic() + 60
    while provider.poll_status(batch_id) != BatchStatus.COMPLETED:
        status = provider.poll_status(batch_id)
        assert status not in [BatchStatus.FAILED, BatchStatus.CANCELLED, BatchStatus.EXPIRED]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # 8. Retrieve results
    results = provider.get_results(batch_id)
    texts = {}
    for request in results.requests:
        for msg in request.messages:
            for content in msg.contents:
                if hasattr(content, "text"):
                    texts[request.custom_id] = content.text
    assert sorted(texts) == [f"request_{i + 1}" for i in range(5)]
    assert all(t.startswith("Emulated answer to: Hello") for t in texts.values())
