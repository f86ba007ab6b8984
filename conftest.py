"""Every test gets its own state directory, so no test reads or writes the user's own ledger
(``~/.local/state/batch-router``) and no two tests share one."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / ".batch_router"
    monkeypatch.setenv("BATCH_ROUTER_STATE_DIR", str(state))
    return state


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (pytest-xdist, ``--dist loadgroup``) the tests that run vLLM stay in one
    worker, one after another: each engine takes a CPU core of its own, so two at once would only
    slow both down, while the other tests (mostly waiting on emulators and subprocesses) share the
    remaining workers."""
    for item in items:
        if item.get_closest_marker("vllm") is not None:
            item.add_marker(pytest.mark.xdist_group("vllm"))
