"""The ledger on a PostgreSQL server: one ledger for many processes on many machines.

The same records, claims and transitions as the SQLite
:class:`~batch_router_core.jobs.ledger.Ledger` (this class runs its very queries), on a shared
server: choose it with a ``postgresql://`` URL (``--ledger``, ``BATCH_ROUTER_LEDGER``, or
:func:`~batch_router_core.jobs.ledgers.open_ledger`).
Needs psycopg 3 (``pip install 'batch-router-core[postgres]'``).

What changes with the store: every write is one transaction (``autocommit`` otherwise), and a row a
transaction reads before deciding (a claim, a removal) is locked with ``SELECT ... FOR UPDATE``, so
two processes deciding about the same provider job are serialised by the server, as SQLite's
``BEGIN IMMEDIATE`` serialises them on one machine. The schema is created and migrated under a
transaction-scoped advisory lock, so processes starting together agree on it. The URL's password
never appears in a message.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from batch_router_core.jobs.ledger import SCHEMA_VERSION, Ledger, LedgerError

__all__ = ["PostgresLedger", "redacted_url"]

# Created at the current version in one go: PostgreSQL ledgers start at schema 3. A later version
# adds its migration to ``_MIGRATIONS`` (run in order, from the recorded version up).
_SCHEMA = """
CREATE TABLE batch_router_schema (version INTEGER NOT NULL);
CREATE TABLE logical_jobs (
    id            TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    mode          TEXT NOT NULL,
    request_count BIGINT NOT NULL,
    params_json   TEXT NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    updated_at    DOUBLE PRECISION NOT NULL,
    cancelled     INTEGER NOT NULL DEFAULT 0,
    options_json  TEXT
);
CREATE TABLE provider_jobs (
    local_id        TEXT PRIMARY KEY,
    logical_id      TEXT NOT NULL REFERENCES logical_jobs(id),
    attempt         INTEGER NOT NULL DEFAULT 0,
    shard           INTEGER NOT NULL DEFAULT 0,
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    mode            TEXT NOT NULL,
    state           TEXT NOT NULL,
    request_count   BIGINT NOT NULL,
    input_path      TEXT NOT NULL,
    requests_path   TEXT NOT NULL,
    batch_id        TEXT,
    handle_json     TEXT,
    status          TEXT,
    raw_status      TEXT,
    counts_json     TEXT,
    usage_json      TEXT,
    results_path    TEXT,
    error           TEXT,
    created_at      DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    owner           TEXT,
    lease_until     DOUBLE PRECISION,
    candidates_json TEXT,
    est_tokens      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX provider_jobs_logical ON provider_jobs(logical_id);
CREATE INDEX provider_jobs_state ON provider_jobs(state);
CREATE INDEX provider_jobs_batch ON provider_jobs(batch_id);
CREATE INDEX provider_jobs_owner ON provider_jobs(owner)
"""

_FIRST_VERSION = 3
# version -> the statements that bring version - 1 to it
_MIGRATIONS: dict[int, str] = {
    4: """
CREATE TABLE webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    local_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX webhook_events_received ON webhook_events(received_at)
""",
    6: "ALTER TABLE provider_jobs ADD COLUMN cost_json TEXT",
    5: """
CREATE TABLE job_files (
    local_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    data     BYTEA NOT NULL,
    PRIMARY KEY (local_id, kind, seq)
)
""",
}

# Any constant of our own: the advisory lock that serialises schema creation and migration.
_SCHEMA_LOCK = 0x62725F6C6564  # "br_led"


def redacted_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class _Statements:
    """The connection as the shared ledger code uses it: ``execute(sql, params)`` with SQLite's
    ``?`` placeholders, returning a cursor with ``fetchone``/``fetchall``/``rowcount`` and rows
    read by column name."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        # The ledger's SQL has no other question marks, nor any percent sign psycopg would read.
        return self._connection.execute(sql.replace("?", "%s"), tuple(params))


class PostgresLedger(Ledger):
    """The ledger in a PostgreSQL database (``postgresql://user@host/db``)."""

    #: read-then-write transactions lock the rows they read
    _lock_rows = " FOR UPDATE"
    #: workers on other machines read a job's files from here
    keeps_files = True

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:  # noqa: D107
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as exc:
            raise LedgerError(
                "a PostgreSQL ledger needs psycopg 3: pip install 'batch-router-core[postgres]'"
            ) from exc
        self.url = url
        self.location = redacted_url(url)
        self._lock = threading.RLock()
        self._psycopg_error: type[BaseException] = psycopg.Error
        with self._guard():
            self._connection = psycopg.connect(
                url,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=max(1, int(connect_timeout_s)),
                application_name="batch-router",
            )
        self._statements = _Statements(self._connection)
        self._migrate()

    # -- the store -------------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn server and connection failures into a :class:`LedgerError` that says what to do."""
        try:
            yield
        except LedgerError:
            raise
        except self._psycopg_error as exc:
            raise LedgerError(
                f"the PostgreSQL ledger at {self.location} cannot be used: "
                f"{str(exc).strip() or type(exc).__name__} (is the server running, does the "
                "database exist, may this user write to it?)"
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._lock, self._guard(), self._connection.transaction():
            yield self._statements

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock, self._guard():
            return list(self._statements.execute(sql, params).fetchall())

    def _migrate(self) -> None:
        with self._write() as db:
            db.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            exists = db.execute("SELECT to_regclass('batch_router_schema') AS t").fetchone()
            if exists["t"] is None:
                for statement in _SCHEMA.split(";"):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO batch_router_schema (version) VALUES (?)", (_FIRST_VERSION,)
                )
            version = int(
                db.execute("SELECT version FROM batch_router_schema").fetchone()["version"]
            )
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"the ledger at {self.location} was written by a newer batch-router (schema "
                    f"{version}, this one knows {SCHEMA_VERSION}); upgrade batch-router-core"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target].split(";"):
                    db.execute(statement)
                db.execute("UPDATE batch_router_schema SET version = ?", (target,))

    def _lock_capacity(self, db: Any, key: str) -> None:
        # Row locks cannot guard a count of rows: a transaction-scoped advisory lock per provider
        # and model makes "count, then mark" one decision at a time across the fleet.
        db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))

    def check_present(self) -> None:
        """The server answers (a dropped database or connection raises :class:`LedgerError`)."""
        self._read("SELECT 1 AS ok FROM batch_router_schema")

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
