"""Fixtures: the Groq emulator served over real loopback HTTP, on a manual clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from batch_router_groq.emulator import GroqEmulator

from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.formats.openai_batch.emulator import EmulatorState


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_760_000_000.0)


@pytest.fixture
def emulator(clock: ManualClock, tmp_path: Path) -> GroqEmulator:
    (tmp_path / "emulator-files").mkdir()
    return GroqEmulator(
        EmulatorState(
            clock=clock,
            workdir=tmp_path / "emulator-files",
            api_key="gsk-test",
            endpoints={"/v1/chat/completions": "/v1/chat/completions"},
        )
    )


@pytest.fixture
def server(emulator: GroqEmulator, batch_router_serve: Callable[[Any], RunningServer]) -> Any:
    return batch_router_serve(emulator)
