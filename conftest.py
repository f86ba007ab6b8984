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
    """The tests that run vLLM come first and, under ``pytest -n`` (pytest-xdist with
    ``--dist loadgroup``, as the README's test command runs), stay in one worker, one after another.

    Each engine takes a CPU core of its own, so two at once would only slow both down; started
    first, the one long chain of them runs while the other workers take everything else (mostly
    waiting on emulators and subprocesses), instead of after it.
    """
    vllm = [item for item in items if item.get_closest_marker("vllm") is not None]
    for item in vllm:
        item.add_marker(pytest.mark.xdist_group("vllm"))
    chosen = set(vllm)
    items[:] = vllm + [item for item in items if item not in chosen]
