"""Seed 004's integration test: 50 concurrent requests, mixed eligible and ineligible, against the
OpenAI emulator over real HTTP - every request answered within its budget, errors isolated."""

from __future__ import annotations

import asyncio
import time

import bpe_openai
import pytest
from batch_router_openai.emulator import OpenAIEmulator

from batch_router_core import BatchProviderRegistry, InferenceParams, ResultStatus
from batch_router_core.emulation.server import RunningServer
from batch_router_core.online import BatchConfig, OnlineBatcher
from batch_router_core.retry import RetryPolicy


async def test_fifty_concurrent_mixed_requests(
    batch_router_files,
    server: RunningServer,  # type: ignore[no-untyped-def]
    emulator: OpenAIEmulator,
) -> None:
    emulator.state.reject_marker = "[reject]"
    reg = BatchProviderRegistry(files=batch_router_files, overrides={}, retry=RetryPolicy.no_wait())
    batcher = OnlineBatcher(
        reg,
        config=BatchConfig(max_batch_size=8, max_wait_ms=300, tick_ms=2),
        provider_options={"openai": {"base_url": server.url + "/v1", "api_key": "k"}},
    ).start()
    try:
        # The first call imports the SDK and opens the connection pool (~0.5 s, once per process).
        await batcher.submit(
            "warm up",
            task_type="code-review",
            provider="openai",
            model="gpt-4o-mini",
            latency_budget_ms=5000,
        )

        async def one(i: int) -> tuple[int, int, float, object]:
            if i % 5 == 0:
                task, budget = "code-review", 2000  # ineligible: task type
            elif i % 7 == 0:
                task, budget = "faq", 150  # ineligible: tight budget -> sent at once
            else:
                task, budget = ("faq", "summarization", "translation")[i % 3], 1500
            prompt = f"question {i}" + (" [reject]" if i == 13 else "")
            t0 = time.perf_counter()
            result = await batcher.submit(
                prompt,
                task_type=task,
                provider="openai",
                model="gpt-4o-mini",
                latency_budget_ms=budget,
                params=InferenceParams(max_output_tokens=32),
            )
            return i, budget, (time.perf_counter() - t0) * 1000, result

        outcomes = await asyncio.gather(*(one(i) for i in range(50)))
    finally:
        batcher.stop()
    for i, budget, elapsed_ms, result in outcomes:
        if budget >= 1000:
            assert elapsed_ms <= budget, (
                f"request {i} took {elapsed_ms:.0f} ms of a {budget} ms budget"
            )
        else:
            # Sub-200 ms budgets bypass the queue entirely: batching adds nothing to them, and what
            # remains is the service's own latency (here, 50 requests at once on one emulator
            # thread of a 2-CPU machine), which a timed assertion would turn into a flaky test.
            assert elapsed_ms <= 1000, f"request {i} took {elapsed_ms:.0f} ms"
        if i == 13:
            assert result.status is ResultStatus.ERRORED and result.error.status_code == 400  # type: ignore[attr-defined]
        else:
            assert result.status is ResultStatus.SUCCEEDED, (i, result)
            assert result.text == f"Emulated answer to: question {i}"  # type: ignore[attr-defined]
    stats = batcher.stats()
    assert stats["deadline_misses"] == 0
    assert stats["batches"] >= 3 and stats["avg_batch_size"] > 1
    assert stats["immediate_requests"] == 1 + 10 + 6  # warm-up, every 5th, every 7th not also a 5th
    assert stats["isolated_retries"] == 1  # the rejected one, retried alone; its group resolved
    # chat groups run as concurrent calls (one per request), plus the warm-up and one retry alone
    assert emulator.state.sync_calls == 1 + 50 + 1
    # ... and are counted so: a group of N chat requests made N calls, at the same price as N
    # requests sent alone (the same tokens at the same per-token rate).
    grouped_calls = stats["batched_requests"] + stats["individual_requests"]
    assert stats["calls"] == grouped_calls == 52 - stats["immediate_requests"]
    assert stats["cost"] > 0 and stats["cost"] == pytest.approx(stats["cost_if_individual"])
    assert stats["savings"] == pytest.approx(0.0) and stats["unpriced_requests"] == 0


async def test_embeddings_group_is_one_call(
    batch_router_files,
    server: RunningServer,  # type: ignore[no-untyped-def]
    emulator: OpenAIEmulator,
) -> None:
    results, stats = await _burst(
        batch_router_files,
        server,
        10,
        "text-embedding-3-small",
        InferenceParams(mode="embedding", embedding_dimensions=8),
        "text {}",
    )
    assert all(r.embedding is not None and len(r.embedding) == 8 for r in results)
    assert emulator.state.sync_calls == 1  # ten inputs, one API call
    assert stats["calls"] == 1 and stats["batched_requests"] == 10
    # The call's usage is shared out: the results add up to what the call reported (the
    # emulator counts with cl100k_base, the encoding of text-embedding-3).
    tokens = sum(len(bpe_openai.get_encoding("cl100k_base").encode(f"text {i}")) for i in range(10))
    assert sum(r.usage.prompt_tokens for r in results) == tokens  # type: ignore[union-attr]
    # One call instead of ten, for the same tokens at the same price: no money saved.
    assert stats["cost"] == pytest.approx(tokens * 0.02 / 1e6)  # text-embedding-3-small
    assert stats["savings"] == pytest.approx(0.0)


async def test_hours_budgets_go_to_the_batch_tier(
    tmp_path,
    batch_router_files,
    server: RunningServer,  # type: ignore[no-untyped-def]
    emulator: OpenAIEmulator,
) -> None:
    from batch_router_core.emulation.clock import SystemClock
    from batch_router_core.jobs.router import BatchRouter

    emulator.state.clock = SystemClock(speed=100000.0)
    reg = BatchProviderRegistry(files=batch_router_files, overrides={}, retry=RetryPolicy.no_wait())
    options = {"openai": {"base_url": server.url + "/v1", "api_key": "k"}}
    router = BatchRouter(reg, root=tmp_path / ".br", provider_options=options)
    batcher = OnlineBatcher(
        reg, provider_options=options, router=router, batch_tier_window_s=0.05
    ).start()
    try:
        results = await asyncio.gather(
            *(
                batcher.submit(
                    f"overnight {i}",
                    task_type="summarization",
                    provider="openai",
                    model="gpt-4o-mini",
                    latency_budget_ms=6 * 3600 * 1000,
                )
                for i in range(6)
            )
        )
        now = await batcher.submit(
            "right now",
            task_type="faq",
            provider="openai",
            model="gpt-4o-mini",
            latency_budget_ms=100,
        )
    finally:
        batcher.stop()
    assert [r.text for r in results] == [f"Emulated answer to: overnight {i}" for i in range(6)]
    assert len(emulator.state.batches) == 1  # six requests, one batch job (the 50% tier)
    assert emulator.state.sync_calls == 1 and now.text == "Emulated answer to: right now"
    stats = batcher.stats()
    assert stats["deferred_to_batch_tier"] == 6
    # The batch tier's saving: half the synchronous price of the same usage.
    assert stats["batch_tier_cost"] > 0
    assert stats["batch_tier_savings"] == pytest.approx(stats["batch_tier_cost"])
    assert stats["immediate_cost"] > 0


async def test_a_completions_group_is_one_call_with_a_prompt_list(
    batch_router_files,
    server: RunningServer,  # type: ignore[no-untyped-def]
    emulator: OpenAIEmulator,
) -> None:
    results, stats = await _burst(
        batch_router_files,
        server,
        6,
        "gpt-3.5-turbo-instruct",
        InferenceParams(mode="completion", max_output_tokens=20),
        "Once upon a time, number {},",
    )
    assert emulator.state.sync_calls == 1  # six prompts, one API call
    # Each answer is its own prompt's, in order.
    assert [r.text for r in results] == [
        f"Emulated answer to: Once upon a time, number {i}," for i in range(6)
    ]
    cl100k = bpe_openai.get_encoding("cl100k_base")  # gpt-3.5's encoding, as the emulator counts
    prompt_tokens = sum(len(cl100k.encode(f"Once upon a time, number {i},")) for i in range(6))
    assert sum(r.usage.prompt_tokens for r in results) == prompt_tokens  # type: ignore[union-attr]
    assert stats["calls"] == 1


async def _burst(
    files: object, server: RunningServer, size: int, model: str, params: InferenceParams, text: str
) -> tuple[list[object], dict[str, object]]:
    """``size`` requests ``text.format(i)`` at once through a batcher grouping up to ``size``;
    their results and the batcher's stats."""
    reg = BatchProviderRegistry(files=files, overrides={}, retry=RetryPolicy.no_wait())
    batcher = OnlineBatcher(
        reg,
        config=BatchConfig(max_batch_size=size, max_wait_ms=200, tick_ms=2),
        provider_options={"openai": {"base_url": server.url + "/v1", "api_key": "k"}},
    ).start()
    try:
        results = await asyncio.gather(
            *(
                batcher.submit(
                    text.format(i),
                    task_type="faq",
                    provider="openai",
                    model=model,
                    latency_budget_ms=2000,
                    params=params,
                )
                for i in range(size)
            )
        )
    finally:
        batcher.stop()
    return list(results), batcher.stats()
