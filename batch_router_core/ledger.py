"""The durable job ledger: every logical job and provider job, in SQLite, so a crashed run resumes.

The router writes the *intent* of a provider job (its local id, provider, model, input file) before
calling the provider, the provider's job id right after, then each status, and finally where the
downloaded results are. After a crash at any point, :meth:`Ledger.unfinished` says what to continue.

Several processes may share one ledger: it runs in WAL mode, every write is one short
``BEGIN IMMEDIATE`` transaction, and readers never block writers. Nothing secret is stored: handles
hold provider ids and file locations only, and options such as API keys are never passed here.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs
import orjson

from .errors import BatchRouterError
from .models.enums import BatchMode, BatchStatus
from .models.provider import BatchHandle
from .models.results import BatchStatusReport, RequestCounts, UsageInfo
from .serialization import from_data, to_data

__all__ = ["JobState", "Ledger", "LedgerError", "LogicalJob", "ProviderJob", "SCHEMA_VERSION"]

#: Bumped whenever the tables change; :class:`Ledger` migrates older files forward.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logical_jobs (
    id            TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    mode          TEXT NOT NULL,
    request_count INTEGER NOT NULL,
    params_json   TEXT NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL,
    cancelled     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS provider_jobs (
    local_id      TEXT PRIMARY KEY,
    logical_id    TEXT NOT NULL REFERENCES logical_jobs(id),
    attempt       INTEGER NOT NULL DEFAULT 0,
    shard         INTEGER NOT NULL DEFAULT 0,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    mode          TEXT NOT NULL,
    state         TEXT NOT NULL,
    request_count INTEGER NOT NULL,
    input_path    TEXT NOT NULL,
    requests_path TEXT NOT NULL,
    batch_id      TEXT,
    handle_json   TEXT,
    status        TEXT,
    raw_status    TEXT,
    counts_json   TEXT,
    usage_json    TEXT,
    results_path  TEXT,
    error         TEXT,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS provider_jobs_logical ON provider_jobs(logical_id);
CREATE INDEX IF NOT EXISTS provider_jobs_state ON provider_jobs(state);
"""


class LedgerError(BatchRouterError):
    """The ledger file is unusable (newer schema, corrupt) or a job id is unknown."""


class JobState(StrEnum):
    """Where a provider job stands in batch-router's own lifecycle."""

    #: intent recorded and input written; the provider has not confirmed a job yet
    PREPARED = "prepared"
    #: the provider job exists and its id is recorded
    SUBMITTED = "submitted"
    #: the provider reported a terminal status; results not downloaded yet
    ENDED = "ended"
    #: results downloaded into the generated directory (final)
    FETCHED = "fetched"
    #: cannot continue without the user (e.g. an interrupted submit on a provider without find_job)
    NEEDS_ATTENTION = "needs_attention"


@attrs.frozen(kw_only=True)
class ProviderJob:
    """One provider job as recorded."""

    local_id: str
    logical_id: str
    attempt: int
    shard: int
    provider: str
    model: str
    mode: BatchMode
    state: JobState
    request_count: int
    input_path: Path
    requests_path: Path
    batch_id: str | None = None
    handle: BatchHandle | None = None
    status: BatchStatus | None = None
    raw_status: str | None = None
    counts: RequestCounts | None = None
    usage: UsageInfo | None = None
    results_path: Path | None = None
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@attrs.frozen(kw_only=True)
class LogicalJob:
    """One user-level job: a batch, possibly split into several provider jobs (shards, retries)."""

    id: str
    provider: str
    model: str
    mode: BatchMode
    request_count: int
    params: dict[str, Any]
    created_at: float
    updated_at: float
    cancelled: bool = False


def _row_job(row: sqlite3.Row) -> ProviderJob:
    def load(col: str, cls: Any) -> Any:
        raw = row[col]
        return from_data(cls, orjson.loads(raw)) if raw else None

    return ProviderJob(
        local_id=row["local_id"], logical_id=row["logical_id"], attempt=row["attempt"],
        shard=row["shard"], provider=row["provider"], model=row["model"],
        mode=BatchMode(row["mode"]), state=JobState(row["state"]), request_count=row["request_count"],
        input_path=Path(row["input_path"]), requests_path=Path(row["requests_path"]),
        batch_id=row["batch_id"],
        handle=load("handle_json", BatchHandle),
        status=BatchStatus(row["status"]) if row["status"] else None, raw_status=row["raw_status"],
        counts=load("counts_json", RequestCounts), usage=load("usage_json", UsageInfo),
        results_path=Path(row["results_path"]) if row["results_path"] else None, error=row["error"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


def _row_logical(row: sqlite3.Row) -> LogicalJob:
    return LogicalJob(
        id=row["id"], provider=row["provider"], model=row["model"], mode=BatchMode(row["mode"]),
        request_count=row["request_count"], params=orjson.loads(row["params_json"]), created_at=row["created_at"],
        updated_at=row["updated_at"], cancelled=bool(row["cancelled"]),
    )


class Ledger:
    """A SQLite ledger file (default ``.batch_router/ledger.sqlite3``, created user-only)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError(f"{self.path} was written by a newer batch-router (schema {version}, "
                              f"this one knows {SCHEMA_VERSION}); upgrade batch-router-core")
        if version < SCHEMA_VERSION:
            with self._write() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- logical jobs ----------------------------------------------------------------------------

    def create_job(self, *, job_id: str, provider: str, model: str, mode: BatchMode,
                   request_count: int, params: dict[str, Any], shards: list[dict[str, Any]]) -> LogicalJob:
        """Record a logical job and the intent of each of its provider jobs, in one transaction.

        Each shard is ``{local_id, request_count, input_path, requests_path}``; their files are
        already written. Nothing has been sent to the provider yet.
        """
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO logical_jobs (id, provider, model, mode, request_count, params_json,"
                " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                (job_id, provider, model, mode.value, request_count, orjson.dumps(params).decode(),
                 now, now),
            )
            for index, shard in enumerate(shards):
                self._insert_intent(db, logical_id=job_id, provider=provider, model=model, mode=mode,
                                    shard=index, attempt=0, now=now, **shard)
        return self.logical(job_id)

    def add_attempt(self, *, logical_id: str, provider: str, model: str, mode: BatchMode,
                    attempt: int, shards: list[dict[str, Any]]) -> list[ProviderJob]:
        """Record the intent of a retry's provider jobs (same logical job, a later attempt)."""
        now = time.time()
        with self._write() as db:
            for index, shard in enumerate(shards):
                self._insert_intent(db, logical_id=logical_id, provider=provider, model=model,
                                    mode=mode, shard=index, attempt=attempt, now=now, **shard)
        return [self.job(s["local_id"]) for s in shards]

    @staticmethod
    def _insert_intent(db: sqlite3.Connection, *, local_id: str, logical_id: str, provider: str,
                       model: str, mode: BatchMode, request_count: int, input_path: Path,
                       requests_path: Path, shard: int, attempt: int, now: float) -> None:
        db.execute(
            "INSERT INTO provider_jobs (local_id, logical_id, attempt, shard, provider, model, mode,"
            " state, request_count, input_path, requests_path, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (local_id, logical_id, attempt, shard, provider, model, mode.value,
             JobState.PREPARED.value, request_count, str(input_path), str(requests_path), now, now),
        )

    def logical(self, job_id: str) -> LogicalJob:
        """One logical job; LedgerError if unknown."""
        row = self._db.execute("SELECT * FROM logical_jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise LedgerError(f"no job {job_id!r} in {self.path}")
        return _row_logical(row)

    def logical_jobs(self) -> list[LogicalJob]:
        """Every logical job, newest first."""
        rows = self._db.execute("SELECT * FROM logical_jobs ORDER BY created_at DESC").fetchall()
        return [_row_logical(r) for r in rows]

    def mark_cancelled(self, job_id: str) -> None:
        """Remember that the user cancelled this job (resume will not resubmit its shards)."""
        with self._write() as db:
            db.execute("UPDATE logical_jobs SET cancelled = 1, updated_at = ? WHERE id = ?",
                       (time.time(), job_id))

    # -- provider jobs ---------------------------------------------------------------------------

    def record_submitted(self, local_id: str, handle: BatchHandle) -> ProviderJob:
        """The provider created the job: keep its handle."""
        return self._update(local_id, state=JobState.SUBMITTED.value, batch_id=handle.batch_id,
                            handle_json=orjson.dumps(to_data(handle)).decode())

    def record_status(self, local_id: str, report: BatchStatusReport) -> ProviderJob:
        """A polled status; a terminal one moves a submitted (or never-created) job to ENDED."""
        fields: dict[str, Any] = {
            "status": report.status.value, "raw_status": report.raw_status,
            "counts_json": orjson.dumps(to_data(report.request_counts)).decode(),
            "error": report.error,
        }
        if report.is_terminal:
            job = self.job(local_id)
            if job.state in (JobState.SUBMITTED, JobState.PREPARED):
                fields["state"] = JobState.ENDED.value
        return self._update(local_id, **fields)

    def record_results(self, local_id: str, results_path: Path, usage: UsageInfo | None) -> ProviderJob:
        """Results are downloaded (completely) at ``results_path``."""
        return self._update(local_id, state=JobState.FETCHED.value, results_path=str(results_path),
                            usage_json=orjson.dumps(to_data(usage)).decode() if usage else None)

    def needs_attention(self, local_id: str, reason: str) -> ProviderJob:
        """Park a job that cannot continue safely without the user."""
        return self._update(local_id, state=JobState.NEEDS_ATTENTION.value, error=reason)

    def _update(self, local_id: str, **fields: Any) -> ProviderJob:
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._write() as db:
            cur = db.execute(f"UPDATE provider_jobs SET {cols} WHERE local_id = ?",
                             (*fields.values(), local_id))
            if cur.rowcount != 1:
                raise LedgerError(f"no provider job {local_id!r} in {self.path}")
        return self.job(local_id)

    def job(self, local_id: str) -> ProviderJob:
        """One provider job; LedgerError if unknown."""
        row = self._db.execute("SELECT * FROM provider_jobs WHERE local_id = ?", (local_id,)).fetchone()
        if row is None:
            raise LedgerError(f"no provider job {local_id!r} in {self.path}")
        return _row_job(row)

    def jobs_of(self, logical_id: str) -> list[ProviderJob]:
        """The provider jobs of one logical job, by attempt then shard."""
        rows = self._db.execute(
            "SELECT * FROM provider_jobs WHERE logical_id = ? ORDER BY attempt, shard", (logical_id,)
        ).fetchall()
        return [_row_job(r) for r in rows]

    def unfinished(self) -> list[ProviderJob]:
        """Provider jobs not yet FETCHED (nor parked for the user), oldest first."""
        rows = self._db.execute(
            "SELECT * FROM provider_jobs WHERE state IN (?, ?, ?) ORDER BY created_at",
            (JobState.PREPARED.value, JobState.SUBMITTED.value, JobState.ENDED.value),
        ).fetchall()
        return [_row_job(r) for r in rows]
