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
