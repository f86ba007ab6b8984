"""Fixtures: the Gemini emulator over real loopback HTTP, and provider handles pointing at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from batch_router_google.emulator import EmulatorState, GoogleEmulator

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
    return ManualClock()


@pytest.fixture
def emulator(clock: ManualClock) -> GoogleEmulator:
    return GoogleEmulator(EmulatorState(clock=clock))


@pytest.fixture
def server(
    emulator: GoogleEmulator, batch_router_serve: Callable[[Any], RunningServer]
) -> RunningServer:
    return batch_router_serve(emulator)


@pytest.fixture(params=["inline", "file"])
def google_provider(
    request: pytest.FixtureRequest,
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
) -> ProviderHandle:
    return batch_router_registry.get(
        "google", base_url=server.url, api_key="test-key", mode=request.param
    )


def chat_batch(n: int = 3, model: str = "gemini-2.5-flash", **params: object) -> InputBatch:
    return question_batch("google", model, n, **params)
