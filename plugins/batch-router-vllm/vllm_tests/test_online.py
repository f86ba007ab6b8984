"""Local groups online: the vLLM plugin's ``execute_now`` through the online batcher, on the real
engine and model, on the CPU."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from batch_router_core import BatchProviderRegistry, InferenceParams, ResultStatus
from batch_router_core.online import BatchConfig, OnlineBatcher

from .conftest import MODEL

pytestmark = pytest.mark.vllm

ASKS = ["What is 2+2?", "Name a colour.", "Say hello.", "What is water made of?"]


async def test_a_local_group_is_one_generate_call_on_a_warm_engine(
    vllm_registry: BatchProviderRegistry, model_cache: Path, smollm2_dir: Path
) -> None:
    from batch_router_vllm.online import close_engines

    batcher = OnlineBatcher(
        vllm_registry,
        config=BatchConfig(max_batch_size=4, max_wait_ms=2000),
        provider_options={"vllm": {"model_cache": str(model_cache)}},
    ).start()

    async def ask(text: str) -> object:
        return await batcher.submit(
            text,
            task_type="faq",
            provider="vllm",
            model=MODEL,
            latency_budget_ms=600_000,  # the first group loads the model
            params=InferenceParams(max_output_tokens=16, temperature=0.0),
        )

    try:
        first = await asyncio.gather(*(ask(text) for text in ASKS))
        again = await asyncio.gather(*(ask(text) for text in ASKS))  # on the warm engine
    finally:
        batcher.stop()
        close_engines()
    for result in [*first, *again]:
        assert result.status is ResultStatus.SUCCEEDED and result.text, result  # type: ignore[attr-defined]
        assert result.usage.completion_tokens > 0  # type: ignore[attr-defined]
    # Greedy decoding on the same engine: the same answers the second time.
    assert [r.text for r in first] == [r.text for r in again]  # type: ignore[attr-defined]
    stats = batcher.stats()
    # Two groups of four, each one generate call (the plugin declares one_call_modes: [chat]).
    assert stats["batches"] == 2 and stats["calls"] == 2
    assert stats["unpriced_requests"] == 8  # a local model has no price: unknown, not zero
