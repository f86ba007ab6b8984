"""Fixtures: the OpenAI emulator served over real loopback HTTP, and a provider handle pointing at
it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_router_openai.emulator import EmulatorState, OpenAIEmulator

from batch_router_core import (
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer, serve_in_thread
from batch_router_core.registry.handle import ProviderHandle

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
def server(emulator: OpenAIEmulator) -> Iterator[RunningServer]:
    srv = serve_in_thread(emulator)
    yield srv
    srv.stop()


@pytest.fixture
def openai_provider(
    batch_router_registry: BatchProviderRegistry, server: RunningServer
) -> ProviderHandle:
    return batch_router_registry.get(
        "openai", base_url=server.url + "/v1", api_key="sk-test-emulator"
    )


def chat_batch(n: int = 3, model: str = "gpt-4o-mini", **params: object) -> InputBatch:
    reqs = [
        InputRequest(custom_id=f"req-{i}", messages=[InputMessage.user(f"What is {i} plus {i}?")])
        for i in range(n)
    ]
    return InputBatch(requests=reqs).with_params(
        InferenceParams(provider_id="openai", model_id=model, **params)
    )  # type: ignore[arg-type]


@pytest.fixture
def data() -> Path:
    """``tests/data`` of the repository."""
    return DATA
