"""``DailyBudget``: refuses a provider job whose cost could take the day's spending over a budget.

It watches every ``submit`` through the observer hooks, for every provider. Before a job is
created, its upper-bound cost estimate (``ProviderCall.estimated_cost``) is reserved against the
UTC day's budget in a small SQLite file beside the ledger, in one exclusive transaction, so
concurrent processes sharing the state directory cannot both take the last dollars. A job that
does not fit, or whose cost cannot be bounded, is refused with
:class:`~batch_router_core.plugin.ProviderPermanentError`: the provider is never called and the job
ends failed with the reason. A create the provider refused gives its reservation back; one that may
have reached the provider keeps it (it may be billed).

The reservation is the upper bound (every request writing its max output tokens), so the budget
errs on the safe side: jobs that spend less leave the rest of the day's budget unused.
"""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from batch_router_core.plugin import (
    ProviderCall,
    ProviderPermanentError,
    default_state_dir,
    hookimpl,
)

__all__ = ["BUDGET_ENV", "BUDGET_FILE_ENV", "DailyBudget"]

#: The day's budget in USD; without it the plugin refuses nothing.
BUDGET_ENV = "BATCH_ROUTER_DAILY_BUDGET"
#: Where reservations are kept (default: ``budget.sqlite3`` in the state directory).
BUDGET_FILE_ENV = "BATCH_ROUTER_BUDGET_FILE"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reservations (
    day      TEXT NOT NULL,
    local_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    amount   REAL NOT NULL,
    at       REAL NOT NULL,
    PRIMARY KEY (day, local_id)
)
"""


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


class DailyBudget:
    """Reserves each job's upper-bound cost against ``$BATCH_ROUTER_DAILY_BUDGET`` per UTC day."""

    def __init__(self, budget: float | None = None, path: str | Path | None = None) -> None:
        raw = os.environ.get(BUDGET_ENV)
        self.budget = budget if budget is not None else (float(raw) if raw else None)
        chosen = path if path is not None else os.environ.get(BUDGET_FILE_ENV)
        self.path = Path(chosen).expanduser() if chosen else None

    def _connect(self) -> sqlite3.Connection:
        path = self.path or default_state_dir() / "budget.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # readable by its owner only
        os.close(fd)
        db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        db.execute(_SCHEMA)
        return db

    def spent_today(self) -> float:
        """USD reserved today (upper bounds of the jobs created or being created)."""
        db = self._connect()
        try:
            row = db.execute(
                "SELECT coalesce(sum(amount), 0) FROM reservations WHERE day = ?", (_today(),)
            ).fetchone()
            return float(row[0])
        finally:
            db.close()

    @hookimpl
    def provider_call_started(self, call: ProviderCall) -> None:
        """Reserve a ``submit``'s upper-bound cost, or refuse it."""
        if self.budget is None or call.operation != "submit" or call.local_id is None:
            return
        cost = call.estimated_cost
        if cost is None:
            raise ProviderPermanentError(
                f"daily budget ${self.budget:g}: the job's cost cannot be bounded (no known "
                "price, or no max output tokens), so it cannot be shown to fit; nothing was sent",
                provider=call.provider,
            )
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")  # one reservation at a time across processes
            day = _today()
            if db.execute(
                "SELECT 1 FROM reservations WHERE day = ? AND local_id = ?", (day, call.local_id)
            ).fetchone():
                db.execute("COMMIT")  # a retry of a job already reserved
                return
            spent = float(
                db.execute(
                    "SELECT coalesce(sum(amount), 0) FROM reservations WHERE day = ?", (day,)
                ).fetchone()[0]
            )
            if spent + cost > self.budget:
                db.execute("ROLLBACK")
                raise ProviderPermanentError(
                    f"daily budget ${self.budget:g}: ${spent:.4f} already reserved today (UTC "
                    f"{day}), and this job could cost ${cost:.4f}; nothing was sent",
                    provider=call.provider,
                )
            db.execute(
                "INSERT INTO reservations (day, local_id, provider, amount, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (day, call.local_id, call.provider, cost, time.time()),
            )
            db.execute("COMMIT")
        finally:
            db.close()

    @hookimpl
    def provider_call_finished(
        self, call: ProviderCall, result: Any, error: BaseException | None, duration_s: float
    ) -> None:
        """Give back the reservation of a create the provider refused (no job, no bill)."""
        refused = isinstance(error, ProviderPermanentError) and not str(error).startswith(
            "daily budget"
        )
        if self.budget is None or call.operation != "submit" or not refused:
            return
        db = self._connect()
        try:
            db.execute("DELETE FROM reservations WHERE local_id = ?", (call.local_id,))
        finally:
            db.close()
