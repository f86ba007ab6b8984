"""Fixtures: the Anthropic emulator over real loopback HTTP, and a provider handle pointing at
it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from batch_router_anthropic.emulator import AnthropicEmulator, EmulatorState

from batch_router_core import (
    BatchProviderRegistry,
    InputBatch,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.registry.handle import ProviderHandle
from batch_router_core.testing import question_batch

#: Real provider batch lines and schema fragments, vendored into the repository (tests/data).
DATA = Path(__file__).resolve().parents[3] / "tests" / "data"


@pytest.fixture
def clock() -> ManualClock:
    # Near real time: find_job compares creation times with the local id's (wall-clock) timestamp.
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> AnthropicEmulator:
    return AnthropicEmulator(EmulatorState(clock=clock))


@pytest.fixture
def server(
    emulator: AnthropicEmulator, batch_router_serve: Callable[[Any], RunningServer]
) -> RunningServer:
    return batch_router_serve(emulator)


@pytest.fixture
def anthropic_provider(
    batch_router_registry: BatchProviderRegistry, server: RunningServer
) -> ProviderHandle:
    return batch_router_registry.get(
        "anthropic", base_url=server.url, api_key="sk-ant-test-emulator"
    )


def chat_batch(n: int = 3, model: str = "claude-sonnet-4-5", **params: object) -> InputBatch:
    params.setdefault("max_output_tokens", 256)
    return question_batch("anthropic", model, n, **params)
