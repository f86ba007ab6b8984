"""Fixtures: the OpenAI emulator served over real loopback HTTP, and a provider handle pointing at
it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_router_openai.emulator import EmulatorState, OpenAIEmulator

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
    return ManualClock(start=1_760_000_000.0)


@pytest.fixture
def emulator(clock: ManualClock, tmp_path: Path) -> Iterator[OpenAIEmulator]:
    emu = OpenAIEmulator(EmulatorState(clock=clock, workdir=tmp_path / "emulator-files"))
    (tmp_path / "emulator-files").mkdir()
    yield emu


@pytest.fixture
def server(
    emulator: OpenAIEmulator, batch_router_serve: Callable[[Any], RunningServer]
) -> RunningServer:
    return batch_router_serve(emulator)


@pytest.fixture
def openai_provider(
    batch_router_registry: BatchProviderRegistry, server: RunningServer
) -> ProviderHandle:
    return batch_router_registry.get(
        "openai", base_url=server.url + "/v1", api_key="sk-test-emulator"
    )


def chat_batch(n: int = 3, model: str = "gpt-4o-mini", **params: object) -> InputBatch:
    return question_batch("openai", model, n, **params)


@pytest.fixture
def data() -> Path:
    """``tests/data`` of the repository."""
    return DATA
