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


def _questions(n: int) -> InputBatch:
    return InputBatch(
        requests=[
            InputRequest(custom_id=f"q{i}", messages=[InputMessage.user(f"What is {i} + {i}?")])
            for i in range(n)
        ]
    ).with_params(
        InferenceParams(provider_id="openai", model_id="gpt-4o-mini", max_output_tokens=32)
    )


def test_an_errored_request_is_an_error_not_an_answer_and_the_loop_ends_on_every_status(
    tmp_path: Path, server: RunningServer, emulator: OpenAIEmulator, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    emulator.state.clock = SystemClock(speed=100000.0)
    monkeypatch.setenv("BATCH_ROUTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-emulator")
    emulator.fail_requests(["q1"])
    provider = OpenAIChatCompletionsProvider()
    batch_id = provider.send_batch(_questions(3))
    assert provider.wait(batch_id, timeout=60) is BatchStatus.COMPLETED
    by_id = {r.custom_id: r for r in provider.get_results(batch_id).requests}
    assert by_id["q1"].messages == () and by_id["q1"].error is not None
    assert "rejected" in by_id["q1"].error.message  # the provider's reason, not an "answer"
    assert by_id["q0"].error is None
    assert by_id["q0"].messages[0].contents[0].text.startswith("Emulated answer")  # type: ignore[union-attr]

    # A batch that ends another way (cancelled here) ends the documented loop too.
    emulator.stall_next_job()
    stalled = provider.send_batch(_questions(2))
    provider.cancel_batch(stalled)
    deadline = time.monotonic() + 60
    while not provider.poll_status(stalled).is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert provider.poll_status(stalled) is BatchStatus.CANCELLED
    assert {r.error.code for r in provider.get_results(stalled).requests if r.error} == {
        "batch_cancelled"
    }


async def test_one_call_runs_a_batch_inside_a_running_event_loop(
    tmp_path: Path, server: RunningServer, emulator: OpenAIEmulator
) -> None:
    """What a notebook cell does: a synchronous call while an event loop runs."""
    from batch_router_core import ResultStatus, run

    emulator.state.clock = SystemClock(speed=100000.0)
    emulator.fail_requests(["q2"])
    options = {"openai": {"base_url": server.url + "/v1", "api_key": "sk-emulator"}}
    results = run(
        _questions(4), root=tmp_path / "state", provider_options=options, poll_interval=0.05
    )
    assert [r.custom_id for r in results] == ["q0", "q1", "q2", "q3"]  # the batch's order
    assert [r.status for r in results] == [
        ResultStatus.SUCCEEDED,
        ResultStatus.SUCCEEDED,
        ResultStatus.ERRORED,
        ResultStatus.SUCCEEDED,
    ]
    # The same job from async code, on a router of one's own.
    from batch_router_core import BatchRouter

    router = BatchRouter(root=tmp_path / "state", provider_options=options, initial_interval=0.05)
    again = await router.run(_questions(2))
    assert [r.text is not None for r in again] == [True, True]
