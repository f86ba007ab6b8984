"""The shared conformance suite on the real engine: vLLM on the CPU, SmolLM2, real processes.

vLLM has no remote service: the fault scenarios (rate limits, auth) have no call to fail, a local
job has no completion window to expire in, and single requests cannot be made to fail from outside;
the suite skips those and says so. Time is real: ``advance`` waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from batch_router_core import BatchProviderRegistry, InputBatch
from batch_router_core.registry.handle import ProviderHandle
from batch_router_core.testing.conformance import (
    ConformanceDriver,
    ProviderConformance,
    override,
)

from .conftest import MODEL, questions

TOOLS_COVERED = (
    "test_real_engines.py::test_a_forced_tool_call_round_trips covers tool calls on both engines, "
    "and sends each call's result back in a second batch"
)


class RealTimeDriver(ConformanceDriver):
    fault_operations = ()

    def advance(self, seconds: float) -> None:
        time.sleep(min(seconds, 2.0))

    def inject_transient(self, operation: str) -> None:
        raise NotImplementedError("a local engine has no remote call to fail")

    def inject_permanent(self, operation: str) -> None:
        raise NotImplementedError("a local engine has no remote call to fail")

    def fail_requests(self, custom_ids: Iterable[str]) -> None:
        raise NotImplementedError(
            "single requests of a local engine cannot be made to fail from outside "
            "(test_real_engines covers a per-request error: an unknown model)"
        )

    def stall_next_job(self) -> None:
        raise NotImplementedError("a local job has no completion window to expire in")


@pytest.mark.vllm
class TestVllmConformance(ProviderConformance):
    embedding_model = MODEL
    max_polls = 300  # two seconds each: ten minutes at most

    @pytest.fixture
    def conformance_provider(
        self, vllm_registry: BatchProviderRegistry, model_cache: Path, smollm2_dir: Path
    ) -> ProviderHandle:
        return vllm_registry.get("vllm", model_cache=str(model_cache))

    @pytest.fixture
    def conformance_batch(self) -> InputBatch:
        return questions(3, max_output_tokens=16)

    @pytest.fixture
    def conformance_driver(self) -> RealTimeDriver:
        return RealTimeDriver()

    @override(TOOLS_COVERED)
    async def test_tool_calls_come_back(self) -> None:  # type: ignore[override]
        """Each vLLM job here costs a CPU engine start (30-60 s): this scenario is not run twice."""
        pytest.skip(TOOLS_COVERED)
