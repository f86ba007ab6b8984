"""Choosing the ledger: a SQLite file in the state directory, or a shared PostgreSQL database.

The location is, first to last: what the caller passes (``BatchRouter(ledger=...)``, the command
line's ``--ledger``), then ``$BATCH_ROUTER_LEDGER``, then ``<state dir>/ledger.sqlite3``. A
``postgresql://`` URL is a server every process and machine can share; anything else is a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from batch_router_core.jobs.ledger import Ledger

__all__ = ["LEDGER_ENV", "default_ledger_location", "is_server_url", "open_ledger"]

#: The environment variable naming the ledger (a ``postgresql://`` URL or a file path).
LEDGER_ENV = "BATCH_ROUTER_LEDGER"

_SERVER_SCHEMES = ("postgresql://", "postgres://")


def is_server_url(location: str | Path) -> bool:
    """True for a ledger on a PostgreSQL server (a ``postgresql://`` or ``postgres://`` URL)."""
    return str(location).startswith(_SERVER_SCHEMES)


def default_ledger_location(state_dir: Path) -> str | Path:
    """``$BATCH_ROUTER_LEDGER`` if set, else ``state_dir/ledger.sqlite3``."""
    return os.environ.get(LEDGER_ENV) or state_dir / "ledger.sqlite3"


def open_ledger(location: str | Path) -> Ledger:
    """The ledger at ``location``: a ``postgresql://`` URL opens a
    :class:`~batch_router_core.jobs.ledger_postgres.PostgresLedger` (psycopg 3, the ``postgres``
    extra); anything else is a SQLite file, given as a path or a ``sqlite:///path`` URL."""
    text = str(location)
    if is_server_url(text):
        from batch_router_core.jobs.ledger_postgres import PostgresLedger

        return PostgresLedger(text)
    if text.startswith("sqlite://"):
        text = text[len("sqlite://") :]
    return Ledger(text)
