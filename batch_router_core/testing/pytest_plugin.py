"""pytest fixtures for batch-router users and plugin authors (registered through ``pytest11``).

* ``batch_router_files`` - a :class:`GeneratedFiles` under the test's temporary directory.
* ``batch_router_registry`` - a registry of the installed plugins writing there, with retries that
  do not sleep.
* ``fake_clock`` / ``fake_service`` - the fake provider's controllable clock and service.
* ``batch_router_serve`` - serves an emulator (any ASGI app) on a free loopback port for the test:
  ``server = batch_router_serve(MyEmulator())``; stopped when the test ends.

The conformance suite (:func:`batch_router_core.testing.conformance.conformance_suite`) builds on
``batch_router_registry``. Nothing here imports a provider SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer, serve_in_thread
from batch_router_core.files import GeneratedFiles
from batch_router_core.registry import BatchProviderRegistry
from batch_router_core.retry import RetryPolicy
from batch_router_core.testing.fake_provider import FakeService


@pytest.fixture
def batch_router_files(tmp_path: Path) -> GeneratedFiles:
    """Generated files under this test's temporary directory."""
    return GeneratedFiles(tmp_path / ".batch_router")


@pytest.fixture
def batch_router_registry(batch_router_files: GeneratedFiles) -> BatchProviderRegistry:
    """A registry of the installed plugins, no user config, retries without sleeping."""
    return BatchProviderRegistry(
        files=batch_router_files, retry=RetryPolicy.no_wait(), overrides={}
    )


@pytest.fixture
def fake_clock() -> ManualClock:
    """A clock that only moves when the test says so."""
    return ManualClock()


@pytest.fixture
def fake_service(fake_clock: ManualClock) -> FakeService:
    """A fresh fake batch service on the manual clock."""
    return FakeService(clock=fake_clock)


@pytest.fixture
def batch_router_serve() -> Iterator[Callable[[Any], RunningServer]]:
    """Serve ASGI apps (emulators) over real loopback HTTP for this test; all stop at its end."""
    servers: list[RunningServer] = []

    def serve(app: Any) -> RunningServer:
        server = serve_in_thread(app)
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()
