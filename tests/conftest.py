"""Shared helpers for core tests. Fixtures from batch_router_core.testing.pytest_plugin are
active."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
