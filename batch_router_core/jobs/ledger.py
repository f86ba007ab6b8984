"""The durable job ledger: every logical job and provider job, in SQLite, so a crashed run resumes.

The router writes the *intent* of a provider job (its local id, provider, model, input file) before
calling the provider, marks it ``submitting`` before the first call that may create it, records the
provider's job id right after, then each status, and finally where the downloaded results are. After
a crash at any point, :meth:`Ledger.unfinished` says what to continue.

Every provider call for a provider job is made by the one process holding a **claim** on it: an
owner id and a lease expiry, taken in one short ``BEGIN IMMEDIATE`` transaction
(:meth:`Ledger.claim`), renewed by a heartbeat (:meth:`Ledger.renew`) and checked by every write the
claimant makes (a write by a process that lost its claim raises :class:`ClaimLostError` instead of
overwriting the new holder's work). Claims of a process that has died on this host are taken over at
once; otherwise the lease decides. The same protocol maps onto PostgreSQL (``SELECT ... FOR UPDATE
SKIP LOCKED``).

Several processes may share one ledger: it runs in WAL mode, every write is one short transaction,
and readers never block writers. Nothing secret is stored: handles hold provider ids and file
locations only, and options such as API keys are never passed here. A ledger that cannot be used
(damaged, emptied, read-only, on a full disk, locked too long, deleted while in use) raises
:class:`LedgerError` naming the file and what to do; it is never silently reset.
"""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs
import orjson

from batch_router_core.errors import BatchRouterError
from batch_router_core.files import atomic_file
from batch_router_core.jobs.claims import owner_is_dead
from batch_router_core.models.enums import BatchMode, BatchStatus
from batch_router_core.models.provider import BatchHandle
from batch_router_core.models.results import BatchStatusReport, RequestCounts, UsageInfo
from batch_router_core.serialization import from_data, to_data

__all__ = [
    "ClaimLostError",
    "JobState",
    "Ledger",
    "LedgerError",
    "LogicalJob",
    "ProviderJob",
    "SCHEMA_VERSION",
    "UnknownJobError",
]

#: Bumped whenever the tables change; :class:`Ledger` migrates older files forward.
SCHEMA_VERSION = 6

_SQLITE_MAGIC = b"SQLite format 3\x00"

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
CREATE INDEX IF NOT EXISTS provider_jobs_state ON provider_jobs(state)
"""

# Version 2: claims (owner + lease), candidates under verification, and a ``submitting`` state.
_MIGRATE_2 = """
ALTER TABLE provider_jobs ADD COLUMN owner TEXT;
ALTER TABLE provider_jobs ADD COLUMN lease_until REAL;
ALTER TABLE provider_jobs ADD COLUMN candidates_json TEXT;
ALTER TABLE logical_jobs ADD COLUMN options_json TEXT;
CREATE INDEX IF NOT EXISTS provider_jobs_batch ON provider_jobs(batch_id);
UPDATE provider_jobs SET state = 'submitting' WHERE state = 'prepared'
"""

# Version 3: each provider job's estimated input tokens, for pacing under enqueued-token limits.
_MIGRATE_3 = """
ALTER TABLE provider_jobs ADD COLUMN est_tokens INTEGER NOT NULL DEFAULT 0
"""


# Version 4: webhook deliveries (each accepted once: a replay is refused by its id).
_MIGRATE_4 = """
CREATE TABLE IF NOT EXISTS webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    local_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_events_received ON webhook_events(received_at)
"""

# Version 6: each provider job's cost estimate (tokens, money, the batch rates it was priced at).
_MIGRATE_6 = """
ALTER TABLE provider_jobs ADD COLUMN cost_json TEXT
"""

# Version 5: copies of each provider job's input and request files, for ledgers shared by machines
# that do not share a disk (filled by a PostgreSQL ledger only; a SQLite ledger is one machine's).
_MIGRATE_5 = """
CREATE TABLE IF NOT EXISTS job_files (
    local_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (local_id, kind, seq)
)
"""

#: Bytes per row of ``job_files`` (a provider's input file may be hundreds of MB: it is stored and
#: read back one piece at a time).
FILE_CHUNK = 8 << 20


class LedgerError(BatchRouterError):
    """The ledger file is unusable (damaged, read-only, full, locked, newer) or a job id is
    unknown."""


class UnknownJobError(LedgerError):
    """No job with this id is recorded in the ledger (a typo, or another state directory)."""

    def __init__(self, job_id: str, path: Path | str) -> None:
        self.job_id = job_id
        self.path = path
        super().__init__(
            f"no job {job_id!r} in the ledger {path} (`batch-router jobs` lists the jobs there; "
            "--state-dir or BATCH_ROUTER_STATE_DIR chooses another)"
        )


class ClaimLostError(LedgerError):
    """This process no longer holds the claim on a provider job (its lease ran out and another
    process took the job over); it must stop working on that job."""


class JobState(StrEnum):
    """Where a provider job stands in batch-router's own lifecycle."""

    #: intent recorded and input written; certainly nothing sent to the provider
    PREPARED = "prepared"
    #: a claimant began creating it: the create call may have reached the provider (reconcile first)
    SUBMITTING = "submitting"
    #: the provider job exists and its id is recorded
    SUBMITTED = "submitted"
    #: the provider reported a terminal status; results not downloaded yet
    ENDED = "ended"
    #: results downloaded into the generated directory (final)
    FETCHED = "fetched"
    #: the provider refused to create it, permanently (final; the reason is in ``error``)
    FAILED = "failed"
    #: cannot continue without the user (final until the user acts; the reason is in ``error``)
    NEEDS_ATTENTION = "needs_attention"

    @property
    def is_final(self) -> bool:
        """True for the states no process moves on by itself."""
        return self in (JobState.FETCHED, JobState.FAILED, JobState.NEEDS_ATTENTION)


_UNFINISHED = (JobState.PREPARED, JobState.SUBMITTING, JobState.SUBMITTED, JobState.ENDED)


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
    #: the claimant's owner id, while a process holds the job
    owner: str | None = None
    #: when the claim runs out unless renewed (epoch seconds)
    lease_until: float | None = None
    #: provider jobs that may be this one's, awaiting verification by their results
    candidates: tuple[BatchHandle, ...] = ()
    #: estimated input tokens (what it holds of its model's enqueued-token limit while it runs)
    est_tokens: int = 0
    #: the cost estimate made before it was sent (``CostEstimate.to_data()``), if any
    estimate: dict[str, Any] | None = None


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
    #: the provider options the job was created with, secrets left out (base URL, organization...)
    options: dict[str, Any] = attrs.field(factory=dict)


def _row_job(row: sqlite3.Row) -> ProviderJob:
    def load(col: str, cls: Any) -> Any:
        raw = row[col]
        return from_data(cls, orjson.loads(raw)) if raw else None

    return ProviderJob(
        local_id=row["local_id"],
        logical_id=row["logical_id"],
        attempt=row["attempt"],
        shard=row["shard"],
        provider=row["provider"],
        model=row["model"],
        mode=BatchMode(row["mode"]),
        state=JobState(row["state"]),
        request_count=row["request_count"],
        input_path=Path(row["input_path"]),
        requests_path=Path(row["requests_path"]),
        batch_id=row["batch_id"],
        handle=load("handle_json", BatchHandle),
        status=BatchStatus(row["status"]) if row["status"] else None,
        raw_status=row["raw_status"],
        counts=load("counts_json", RequestCounts),
        usage=load("usage_json", UsageInfo),
        results_path=Path(row["results_path"]) if row["results_path"] else None,
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        owner=row["owner"],
        lease_until=row["lease_until"],
        candidates=tuple(from_data(BatchHandle, c) for c in orjson.loads(row["candidates_json"]))
        if row["candidates_json"]
        else (),
        est_tokens=row["est_tokens"] or 0,
        estimate=orjson.loads(row["cost_json"]) if row["cost_json"] else None,
    )


def _row_logical(row: sqlite3.Row) -> LogicalJob:
    return LogicalJob(
        id=row["id"],
        provider=row["provider"],
        model=row["model"],
        mode=BatchMode(row["mode"]),
        request_count=row["request_count"],
        params=orjson.loads(row["params_json"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cancelled=bool(row["cancelled"]),
        options=orjson.loads(row["options_json"]) if row["options_json"] else {},
    )


def _advice(path: Path, exc: BaseException) -> str:
    """What went wrong with the ledger file and what the user can do, in one message."""
    text = str(exc).lower()
    code = getattr(exc, "errno", None) or getattr(exc, "sqlite_errorcode", None)
    if (
        "readonly" in text
        or "read-only" in text
        or code in (errno.EACCES, errno.EPERM, errno.EROFS)
    ):
        return (
            f"cannot write the ledger {path}: the file or its directory is read-only "
            "(fix the permissions, or point batch-router at a writable directory)"
        )
    if "full" in text or code == errno.ENOSPC:
        return (
            f"the disk holding the ledger {path} is full: free some space, then run "
            "`batch-router resume` (nothing recorded so far is lost)"
        )
    if "locked" in text or "busy" in text:
        return (
            f"the ledger {path} stayed locked by another process for too long; "
            "try again when it is less busy"
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return (
            f"the ledger {path} is damaged ({exc}); it was left untouched: move it aside "
            "(e.g. `mv ledger.sqlite3 ledger.sqlite3.damaged`) to start a new one, and look up "
            "its provider jobs on the provider by their br-... tags"
        )
    return f"the ledger {path} cannot be used: {exc}"


class Ledger:
    """A SQLite ledger file (``<state dir>/ledger.sqlite3``, created user-only).

    :class:`~batch_router_core.jobs.ledger_postgres.PostgresLedger` runs the same queries on a
    PostgreSQL server; :func:`~batch_router_core.jobs.ledgers.open_ledger` picks one by location.
    """

    #: appended to the SELECT of a read-then-write transaction (SQLite's ``BEGIN IMMEDIATE``
    #: already serialises writers; a server locks the rows instead)
    _lock_rows = ""

    #: whether recording a provider job also stores its input and request files in the ledger, so
    #: that a machine without the recorder's disk can send it (a shared server ledger does)
    keeps_files = False

    #: how long an open waits for another process's lock before giving up (seconds)
    busy_timeout_s = 30.0

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).absolute()  # messages name the file wherever the user runs from
        #: where the ledger is, as messages name it (a path, or a URL without its password)
        self.location = str(self.path)
        with self._guard():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                self._create()
            self._check_header()
            self._db = self._connect(self.path)
            self._inode = self.path.stat().st_ino
            self._migrate()

    # -- opening ---------------------------------------------------------------------------------

    def _connect(self, path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(
            path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        # On a file already in WAL mode (every ledger this class creates) this takes no lock.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _create(self) -> None:
        """Create a complete ledger beside the final name, then link it into place.

        Whoever links first wins; everyone else opens the winner's file. A half-created ledger never
        has the final name, so an empty ledger file always means damage, never "new".
        """
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.new")
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            db = self._connect(tmp)
            self._migrate_db(db)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: use theirs
        finally:
            for leftover in (
                tmp,
                tmp.with_name(tmp.name + "-wal"),
                tmp.with_name(tmp.name + "-shm"),
            ):
                leftover.unlink(missing_ok=True)

    def _check_header(self) -> None:
        with self.path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head == _SQLITE_MAGIC:
            return
        what = "is empty (0 bytes)" if not head else "is not a SQLite database"
        raise LedgerError(
            f"the ledger {self.path} {what}: it was truncated or overwritten, and batch-router "
            f"will "
            "not start a new ledger over it (that would forget every job it held). Move it aside "
            "to start afresh, or restore it from a backup"
        )

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite and file-system failures into a :class:`LedgerError` that says what to do."""
        try:
            yield
        except LedgerError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(_advice(self.path, exc)) from exc

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def check_present(self) -> None:
        """Raise :class:`LedgerError` if the ledger file was deleted or replaced while in use."""
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            inode = None
        if inode != self._inode:
            raise LedgerError(
                f"the ledger {self.path} was deleted or replaced while this process was using it; "
                "its jobs keep running at the provider and can be found there by their br-... tags"
            )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # a full disk may already have rolled it back
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._guard():
            return self._db.execute(sql, tuple(params)).fetchall()

    def _migrate(self) -> None:
        with self._guard():
            self._migrate_db(self._db)

    def _migrate_db(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{self.path} was written by a newer batch-router (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); upgrade batch-router-core"
            )
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[
                0
            ]  # another process may have won
            if version < 1:
                for statement in _SCHEMA.split(";"):
                    db.execute(statement)
            if version < 2:
                for statement in _MIGRATE_2.split(";"):
                    db.execute(statement)
            if version < 3:
                db.execute(_MIGRATE_3)
            if version < 4:
                for statement in _MIGRATE_4.split(";"):
                    db.execute(statement)
            if version < 5:
                db.execute(_MIGRATE_5)
            if version < 6:
                db.execute(_MIGRATE_6)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- logical jobs ----------------------------------------------------------------------------

    def create_jobs(
        self, jobs: Iterable[dict[str, Any]], *, owner: str | None = None, lease_s: float = 0.0
    ) -> None:
        """Record several logical jobs and the intent of each of their provider jobs, in ONE
        transaction: either every job is recorded or none is.

        Each job is the keyword arguments of :meth:`create_job` but ``owner``, plus optionally
        ``options``: provider options to remember, which must hold no secret. With ``owner``, the
        new provider jobs are claimed by it from the start (no other process can take them while
        its lease lasts).
        """
        now = time.time()
        lease = now + lease_s if owner else None
        with self._write() as db:
            for job in jobs:
                job_id = job["job_id"]
                db.execute(
                    "INSERT INTO logical_jobs (id, provider, model, mode, request_count, "
                    "params_json,"
                    " created_at, updated_at, options_json) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        job_id,
                        job["provider"],
                        job["model"],
                        job["mode"].value,
                        job["request_count"],
                        orjson.dumps(job["params"]).decode(),
                        now,
                        now,
                        orjson.dumps(job.get("options") or {}).decode(),
                    ),
                )
                for index, shard in enumerate(job["shards"]):
                    self._insert_intent(
                        db,
                        logical_id=job_id,
                        provider=job["provider"],
                        model=job["model"],
                        mode=job["mode"],
                        shard=index,
                        attempt=0,
                        now=now,
                        owner=owner,
                        lease_until=lease,
                        **shard,
                    )

    def create_job(
        self,
        *,
        job_id: str,
        provider: str,
        model: str,
        mode: BatchMode,
        request_count: int,
        params: dict[str, Any],
        shards: list[dict[str, Any]],
        owner: str | None = None,
        lease_s: float = 0.0,
    ) -> LogicalJob:
        """Record a logical job and the intent of each of its provider jobs, in one transaction.

        Each shard is ``{local_id, request_count, input_path, requests_path}``; their files are
        already written. Nothing has been sent to the provider yet.
        """
        self.create_jobs(
            [
                {
                    "job_id": job_id,
                    "provider": provider,
                    "model": model,
                    "mode": mode,
                    "request_count": request_count,
                    "params": params,
                    "shards": shards,
                }
            ],
            owner=owner,
            lease_s=lease_s,
        )
        return self.logical(job_id)

    def add_attempt(
        self,
        *,
        logical_id: str,
        provider: str,
        model: str,
        mode: BatchMode,
        attempt: int,
        shards: list[dict[str, Any]],
        owner: str | None = None,
        lease_s: float = 0.0,
    ) -> list[ProviderJob]:
        """Record the intent of a retry's provider jobs (same logical job, a later attempt)."""
        now = time.time()
        lease = now + lease_s if owner else None
        with self._write() as db:
            for index, shard in enumerate(shards):
                self._insert_intent(
                    db,
                    logical_id=logical_id,
                    provider=provider,
                    model=model,
                    mode=mode,
                    shard=index,
                    attempt=attempt,
                    now=now,
                    owner=owner,
                    lease_until=lease,
                    **shard,
                )
        return [self.job(s["local_id"]) for s in shards]

    def _insert_intent(
        self,
        db: sqlite3.Connection,
        *,
        local_id: str,
        logical_id: str,
        provider: str,
        model: str,
        mode: BatchMode,
        request_count: int,
        input_path: Path,
        requests_path: Path,
        shard: int,
        attempt: int,
        now: float,
        owner: str | None,
        lease_until: float | None,
        est_tokens: int = 0,
        estimate: Any = None,
    ) -> None:
        cost = None if estimate is None else orjson.dumps(estimate.to_data()).decode()
        db.execute(
            "INSERT INTO provider_jobs (local_id, logical_id, attempt, shard, provider, model, "
            "mode, state, request_count, input_path, requests_path, created_at, updated_at, "
            "owner, lease_until, est_tokens, cost_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                local_id,
                logical_id,
                attempt,
                shard,
                provider,
                model,
                mode.value,
                JobState.PREPARED.value,
                request_count,
                str(input_path),
                str(requests_path),
                now,
                now,
                owner,
                lease_until,
                est_tokens,
                cost,
            ),
        )
        if self.keeps_files:
            self._keep_file(db, local_id, "input", input_path)
            self._keep_file(db, local_id, "requests", requests_path)

    @staticmethod
    def _keep_file(db: Any, local_id: str, kind: str, path: Path) -> None:
        with open(path, "rb") as f:
            seq = 0
            while chunk := f.read(FILE_CHUNK):
                db.execute(
                    "INSERT INTO job_files (local_id, kind, seq, data) VALUES (?,?,?,?)",
                    (local_id, kind, seq, chunk),
                )
                seq += 1

    def restore_file(self, local_id: str, kind: str, dest: Path) -> bool:
        """Write the ledger's copy of a provider job's ``input`` or ``requests`` file to
        ``dest`` (atomically, ``0600``), one stored piece at a time; False when the ledger keeps
        none (a SQLite ledger, or a job recorded before copies were kept)."""
        if not self.keeps_files:
            return False
        pieces = self._read(
            "SELECT seq FROM job_files WHERE local_id = ? AND kind = ? ORDER BY seq",
            (local_id, kind),
        )
        if not pieces:
            return False
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(dest) as out:
            for piece in pieces:
                [row] = self._read(
                    "SELECT data FROM job_files WHERE local_id = ? AND kind = ? AND seq = ?",
                    (local_id, kind, piece["seq"]),
                )
                out.write(bytes(row["data"]))
        return True

    def logical(self, job_id: str) -> LogicalJob:
        """One logical job; LedgerError if unknown."""
        rows = self._read("SELECT * FROM logical_jobs WHERE id = ?", (job_id,))
        if not rows:
            raise UnknownJobError(job_id, self.location)
        return _row_logical(rows[0])

    def logical_jobs(self) -> list[LogicalJob]:
        """Every logical job, newest first."""
        return [
            _row_logical(r)
            for r in self._read("SELECT * FROM logical_jobs ORDER BY created_at DESC")
        ]

    def mark_cancelled(self, job_id: str) -> None:
        """Remember that the user cancelled this job (resume will not resubmit its shards)."""
        with self._write() as db:
            db.execute(
                "UPDATE logical_jobs SET cancelled = 1, updated_at = ? WHERE id = ?",
                (time.time(), job_id),
            )

    def forget(self, job_id: str) -> None:
        """Remove an ended job's records (its files are the caller's to remove first). A job with a
        live claim on any provider job, or one not ended, is refused: it is still being worked on.
        """
        now = time.time()
        with self._write() as db:
            rows = db.execute(
                "SELECT state, owner, lease_until FROM provider_jobs WHERE logical_id = ?"
                + self._lock_rows,
                (job_id,),
            ).fetchall()
            for row in rows:
                if JobState(row["state"]) not in (JobState.FETCHED, JobState.FAILED):
                    raise LedgerError(f"job {job_id} is not finished ({row['state']}): not removed")
                if row["owner"] and (row["lease_until"] or 0) > now:
                    raise LedgerError(f"job {job_id} is held by {row['owner']}: not removed")
            db.execute(
                "DELETE FROM job_files WHERE local_id IN "
                "(SELECT local_id FROM provider_jobs WHERE logical_id = ?)",
                (job_id,),
            )
            db.execute("DELETE FROM provider_jobs WHERE logical_id = ?", (job_id,))
            db.execute("DELETE FROM logical_jobs WHERE id = ?", (job_id,))

    # -- claims ----------------------------------------------------------------------------------

    def claim(self, local_id: str, owner: str, lease_s: float) -> ProviderJob | None:
        """Take (or renew) the claim on a provider job; None while another live process holds it.

        A claim held by a process that died on this host, or whose lease ran out, is taken over.
        """
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT owner, lease_until FROM provider_jobs WHERE local_id = ?" + self._lock_rows,
                (local_id,),
            ).fetchone()
            if row is None:
                raise LedgerError(f"no provider job {local_id!r} in {self.location}")
            holder = row["owner"]
            if (
                holder
                and holder != owner
                and (row["lease_until"] or 0.0) > now
                and not owner_is_dead(holder)
            ):
                return None
            db.execute(
                "UPDATE provider_jobs SET owner = ?, lease_until = ? WHERE local_id = ?",
                (owner, now + lease_s, local_id),
            )
        return self.job(local_id)

    def renew(self, owner: str, lease_s: float) -> set[str]:
        """Extend every claim ``owner`` holds; returns the local ids it still holds."""
        with self._write() as db:
            db.execute(
                "UPDATE provider_jobs SET lease_until = ? WHERE owner = ?",
                (time.time() + lease_s, owner),
            )
            rows = db.execute(
                "SELECT local_id FROM provider_jobs WHERE owner = ?", (owner,)
            ).fetchall()
        return {r["local_id"] for r in rows}

    def release(self, owner: str, local_ids: Iterable[str] | None = None) -> None:
        """Give up claims (all of ``owner``'s, or just these) so others need not wait for the
        lease."""
        with self._write() as db:
            if local_ids is None:
                db.execute(
                    "UPDATE provider_jobs SET owner = NULL, lease_until = NULL WHERE owner = ?",
                    (owner,),
                )
                return
            for local_id in local_ids:
                db.execute(
                    "UPDATE provider_jobs SET owner = NULL, lease_until = NULL"
                    " WHERE owner = ? AND local_id = ?",
                    (owner, local_id),
                )

    # -- provider jobs ---------------------------------------------------------------------------

    def begin_submit(
        self,
        local_id: str,
        owner: str | None = None,
        *,
        max_jobs: int | None = None,
        max_tokens: int | None = None,
    ) -> ProviderJob | None:
        """About to call the provider to create the job: from now on it may exist there.

        With ``max_jobs`` or ``max_tokens``, only if the other jobs of its provider and model being
        created or running, and their estimated tokens, leave room for it (with none in flight
        there is always room); None otherwise, and the job stays an intent. Counted and marked in
        one transaction that serialises with every other such decision on the same model, so two
        processes cannot both take the last place.
        """
        if max_jobs is None and max_tokens is None:
            return self._update(local_id, owner, state=JobState.SUBMITTING.value)
        with self._write() as db:
            row = db.execute(
                "SELECT provider, model, est_tokens FROM provider_jobs WHERE local_id = ?",
                (local_id,),
            ).fetchone()
            if row is None:
                raise LedgerError(f"no provider job {local_id!r} in {self.location}")
            self._lock_capacity(db, f"{row['provider']}/{row['model']}")
            flight = db.execute(
                "SELECT count(*) AS jobs, coalesce(sum(est_tokens), 0) AS tokens"
                " FROM provider_jobs WHERE provider = ? AND model = ? AND state IN (?, ?)"
                " AND local_id != ?",
                (
                    row["provider"],
                    row["model"],
                    JobState.SUBMITTING.value,
                    JobState.SUBMITTED.value,
                    local_id,
                ),
            ).fetchone()
            jobs, tokens = int(flight["jobs"]), int(flight["tokens"])
            if jobs and (
                (max_jobs is not None and jobs >= max_jobs)
                or (max_tokens is not None and tokens + int(row["est_tokens"]) > max_tokens)
            ):
                return None
            self._apply(db, local_id, owner, {"state": JobState.SUBMITTING.value})
        return self.job(local_id)

    def _lock_capacity(self, db: Any, key: str) -> None:
        """Serialise capacity decisions about ``key`` (a provider and model) until the
        transaction ends: nothing to do where every write transaction is exclusive (SQLite)."""

    def back_to_intent(self, local_id: str, owner: str | None = None) -> ProviderJob:
        """The provider refused the create outright (e.g. 429): certainly nothing was created."""
        return self._update(local_id, owner, state=JobState.PREPARED.value)

    def record_submitted(
        self, local_id: str, handle: BatchHandle, owner: str | None = None
    ) -> ProviderJob:
        """The provider created the job (or it was found and proven to be this one): keep its
        handle."""
        return self._update(
            local_id,
            owner,
            state=JobState.SUBMITTED.value,
            batch_id=handle.batch_id,
            handle_json=orjson.dumps(to_data(handle)).decode(),
            candidates_json=None,
        )

    def record_candidates(
        self, local_id: str, candidates: Iterable[BatchHandle], owner: str | None = None
    ) -> ProviderJob:
        """Provider jobs that may be this one, to verify (by their results) before adopting any."""
        data = [to_data(c) for c in candidates]
        return self._update(
            local_id, owner, candidates_json=orjson.dumps(data).decode() if data else None
        )

    def record_refused(self, local_id: str, reason: str, owner: str | None = None) -> ProviderJob:
        """The provider permanently refused to create the job: it ends FAILED with the reason."""
        return self._update(
            local_id,
            owner,
            state=JobState.FAILED.value,
            status=BatchStatus.FAILED.value,
            raw_status="refused",
            error=reason,
            candidates_json=None,
            counts_json=orjson.dumps({"total": 0}).decode(),
        )

    def record_status(
        self, local_id: str, report: BatchStatusReport, owner: str | None = None
    ) -> ProviderJob:
        """A polled status; a terminal one moves a submitted (or never-created) job to ENDED."""
        fields: dict[str, Any] = {
            "status": report.status.value,
            "raw_status": report.raw_status,
            "counts_json": orjson.dumps(to_data(report.request_counts)).decode(),
            "error": report.error,
        }
        if report.is_terminal:
            job = self.job(local_id)
            if job.state in (JobState.SUBMITTED, JobState.PREPARED, JobState.SUBMITTING):
                fields["state"] = JobState.ENDED.value
        return self._update(local_id, owner, **fields)

    def record_results(
        self,
        local_id: str,
        results_path: Path,
        usage: UsageInfo | None,
        owner: str | None = None,
        *,
        counts: RequestCounts | None = None,
    ) -> ProviderJob:
        """Results are downloaded (completely) at ``results_path``; ``counts``, when given,
        replace the provider's (replies that failed their output schema count as errored)."""
        fields: dict[str, Any] = {}
        if counts is not None:
            fields["counts_json"] = orjson.dumps(to_data(counts)).decode()
        return self._update(
            local_id,
            owner,
            state=JobState.FETCHED.value,
            results_path=str(results_path),
            usage_json=orjson.dumps(to_data(usage)).decode() if usage else None,
            **fields,
        )

    def requeue(self, local_id: str, reason: str, owner: str | None = None) -> ProviderJob:
        """The provider job failed before running anything, for a reason that passes: it goes back
        to PREPARED (certainly not running anywhere) to be created again, the reason kept."""
        return self._update(
            local_id,
            owner,
            state=JobState.PREPARED.value,
            batch_id=None,
            handle_json=None,
            status=None,
            raw_status=None,
            counts_json=None,
            candidates_json=None,
            error=f"requeued: {reason}",
        )

    def in_flight(self, provider: str, model: str) -> tuple[int, int]:
        """(provider jobs, estimated input tokens) of ``model`` being created or running at
        ``provider``, across every job in the ledger."""
        row = self._read(
            "SELECT count(*) AS jobs, coalesce(sum(est_tokens), 0) AS tokens FROM provider_jobs"
            " WHERE provider = ? AND model = ? AND state IN (?, ?)",
            (provider, model, JobState.SUBMITTING.value, JobState.SUBMITTED.value),
        )[0]
        return int(row["jobs"]), int(row["tokens"])

    def metrics(self, now: float) -> dict[str, Any]:
        """For operators: provider jobs by state, the oldest unfinished one (its age at ``now``),
        and the live claims of each owner (how many, and the soonest lease to run out)."""
        unfinished = [s.value for s in _UNFINISHED]
        by_state = self._read("SELECT state, count(*) AS n FROM provider_jobs GROUP BY state")
        oldest = self._read(
            "SELECT local_id, state, created_at FROM provider_jobs WHERE state IN (?, ?, ?, ?)"
            " ORDER BY created_at LIMIT 1",
            unfinished,
        )
        claims = self._read(
            "SELECT owner, count(*) AS held, min(lease_until) AS soonest FROM provider_jobs"
            " WHERE owner IS NOT NULL AND lease_until > ? GROUP BY owner",
            (now,),
        )
        return {
            "jobs_by_state": {r["state"]: int(r["n"]) for r in by_state},
            "oldest_unfinished": {
                "local_id": oldest[0]["local_id"],
                "state": oldest[0]["state"],
                "age_s": round(now - float(oldest[0]["created_at"]), 3),
            }
            if oldest
            else None,
            "claims": {
                r["owner"]: {"held": int(r["held"]), "lease_left_s": round(r["soonest"] - now, 3)}
                for r in claims
            },
        }

    # -- webhooks --------------------------------------------------------------------------------

    def job_by_batch_id(self, provider: str, batch_id: str) -> ProviderJob | None:
        """The provider job this ledger created as ``batch_id`` at ``provider``, if any."""
        rows = self._read(
            "SELECT * FROM provider_jobs WHERE provider = ? AND batch_id = ?", (provider, batch_id)
        )
        return _row_job(rows[0]) if rows else None

    def record_webhook_event(
        self, provider: str, event_id: str, local_id: str, status: BatchStatus, received_at: float
    ) -> bool:
        """Keep a verified webhook delivery; False (and nothing written) if one with this id was
        accepted before: a replay."""
        with self._write() as db:
            # One statement, so that two receivers given the same delivery at once cannot both
            # accept it (the key decides, on SQLite and on a server alike).
            cur = db.execute(
                "INSERT INTO webhook_events (provider, event_id, local_id, status, received_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING",
                (provider, event_id, local_id, status.value, received_at),
            )
            return bool(cur.rowcount == 1)

    def webhook_events_since(self, since: float) -> list[tuple[str, float]]:
        """``(local_id, received_at)`` of the deliveries accepted after ``since`` (epoch s)."""
        rows = self._read(
            "SELECT local_id, received_at FROM webhook_events WHERE received_at > ?"
            " ORDER BY received_at",
            (since,),
        )
        return [(r["local_id"], float(r["received_at"])) for r in rows]

    def needs_attention(self, local_id: str, reason: str, owner: str | None = None) -> ProviderJob:
        """Park a job that cannot continue safely without the user."""
        return self._update(local_id, owner, state=JobState.NEEDS_ATTENTION.value, error=reason)

    def _update(self, local_id: str, owner: str | None = None, **fields: Any) -> ProviderJob:
        """Update a provider job; with ``owner``, only while that owner still holds the claim."""
        with self._write() as db:
            self._apply(db, local_id, owner, fields)
        return self.job(local_id)

    def _apply(self, db: Any, local_id: str, owner: str | None, fields: dict[str, Any]) -> None:
        """:meth:`_update`'s change, inside the caller's write transaction."""
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        where, params = "local_id = ?", [local_id]
        if owner is not None:
            where += " AND owner = ?"
            params.append(owner)
        cur = db.execute(
            f"UPDATE provider_jobs SET {cols} WHERE {where}", (*fields.values(), *params)
        )
        if cur.rowcount != 1:
            exists = db.execute(
                "SELECT owner FROM provider_jobs WHERE local_id = ?", (local_id,)
            ).fetchone()
            if exists is None:
                raise LedgerError(f"no provider job {local_id!r} in {self.location}")
            raise ClaimLostError(
                f"provider job {local_id} is now held by {exists['owner'] or 'nobody'}, "
                "not by this process (its claim ran out)"
            )

    def job(self, local_id: str) -> ProviderJob:
        """One provider job; LedgerError if unknown."""
        rows = self._read("SELECT * FROM provider_jobs WHERE local_id = ?", (local_id,))
        if not rows:
            raise LedgerError(f"no provider job {local_id!r} in {self.location}")
        return _row_job(rows[0])

    def jobs_of(self, logical_id: str) -> list[ProviderJob]:
        """The provider jobs of one logical job, by attempt then shard."""
        rows = self._read(
            "SELECT * FROM provider_jobs WHERE logical_id = ? ORDER BY attempt, shard",
            (logical_id,),
        )
        return [_row_job(r) for r in rows]

    def known_batch_ids(self, provider: str) -> frozenset[str]:
        """Every provider job id this ledger holds for ``provider`` (never adopted twice)."""
        rows = self._read(
            "SELECT batch_id FROM provider_jobs WHERE provider = ? AND batch_id IS NOT NULL",
            (provider,),
        )
        return frozenset(r["batch_id"] for r in rows)

    def unfinished(self) -> list[ProviderJob]:
        """Provider jobs not yet FETCHED (nor failed, nor parked for the user), oldest first."""
        rows = self._read(
            "SELECT * FROM provider_jobs WHERE state IN (?, ?, ?, ?) ORDER BY created_at",
            [s.value for s in _UNFINISHED],
        )
        return [_row_job(r) for r in rows]
