"""The ledger: a real SQLite file, schema versioning, two processes at once, nothing secret."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from batch_router_core.jobs.ledger import SCHEMA_VERSION, JobState, Ledger, LedgerError
from batch_router_core.models import (
    BatchHandle,
    BatchMode,
    BatchStatus,
    BatchStatusReport,
    RequestCounts,
)


def _shard(tmp: Path, local_id: str) -> dict:  # type: ignore[type-arg]
    return {
        "local_id": local_id,
        "request_count": 2,
        "input_path": tmp / f"{local_id}.jsonl",
        "requests_path": tmp / f"{local_id}.requests.jsonl",
    }


def _writer(path: str, prefix: str, n: int) -> None:
    ledger = Ledger(path)
    tmp = Path(path).parent
    for i in range(n):
        job = f"{prefix}-{i}"
        ledger.create_job(
            job_id=job,
            provider="fake",
            model="m",
            mode=BatchMode.CHAT,
            request_count=2,
            params={},
            shards=[_shard(tmp, f"{job}-s0"), _shard(tmp, f"{job}-s1")],
        )
        handle = BatchHandle(
            provider="fake",
            batch_id=f"b-{job}",
            local_id=f"{job}-s0",
            model="m",
            mode=BatchMode.CHAT,
            request_count=2,
        )
        ledger.record_submitted(f"{job}-s0", handle)
    ledger.close()


def test_two_processes_share_one_ledger(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    Ledger(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, name, 40)) for name in ("p1", "p2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ledger = Ledger(path)
    assert len(ledger.logical_jobs()) == 80
    assert len(ledger.unfinished()) == 160
    assert sum(1 for j in ledger.unfinished() if j.state is JobState.SUBMITTED) == 80
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_lifecycle_and_permissions(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    assert oct((tmp_path / "l.sqlite3").stat().st_mode & 0o777) == "0o600"
    ledger.create_job(
        job_id="j",
        provider="fake",
        model="m",
        mode=BatchMode.CHAT,
        request_count=2,
        params={"model_id": "m"},
        shards=[_shard(tmp_path, "s")],
    )
    assert ledger.job("s").state is JobState.PREPARED
    handle = BatchHandle(
        provider="fake",
        batch_id="b1",
        local_id="s",
        model="m",
        mode=BatchMode.CHAT,
        request_count=2,
        data={"input_file_id": "file-1"},
    )
    assert ledger.record_submitted("s", handle).handle == handle
    report = BatchStatusReport(
        provider="fake",
        batch_id="b1",
        status=BatchStatus.COMPLETED,
        raw_status="done",
        request_counts=RequestCounts(total=2, succeeded=2),
    )
    job = ledger.record_status("s", report)
    assert job.state is JobState.ENDED and job.counts == RequestCounts(total=2, succeeded=2)
    assert ledger.record_results("s", tmp_path / "r.jsonl", None).state is JobState.FETCHED
    assert ledger.unfinished() == []
    with pytest.raises(LedgerError, match="no provider job 'nope'"):
        ledger.job("nope")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(LedgerError, match="newer batch-router"):
        Ledger(path)


def test_nothing_secret_is_stored(tmp_path: Path) -> None:
    import asyncio

    from batch_router_core import (
        BatchProviderRegistry,
        InferenceParams,
        InputBatch,
        InputMessage,
        InputRequest,
    )
    from batch_router_core.files import GeneratedFiles
    from batch_router_core.jobs.router import BatchRouter
    from batch_router_core.testing.fake_provider import FakeService

    secret = "sk-live-supersecretvalue-123456"
    reg = BatchProviderRegistry(files=GeneratedFiles(tmp_path / ".br"), overrides={})
    router = BatchRouter(
        reg,
        root=tmp_path / ".br",
        provider_options={"fake": {"service": FakeService(), "api_key": secret}},
    )
    b = InputBatch(
        requests=[InputRequest(custom_id="a", messages=[InputMessage.user("x")])]
    ).with_params(InferenceParams(provider_id="fake", model_id="fake-1"))
    asyncio.run(router.run_batches([b], wait_for_completion=False))
    for f in (tmp_path / ".br").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f


def test_a_version_1_ledger_is_migrated_conservatively(tmp_path: Path) -> None:
    from batch_router_core.jobs.ledger import _SCHEMA

    path = tmp_path / "l.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA + ";")
    db.execute("INSERT INTO logical_jobs VALUES ('j', 'fake', 'm', 'chat', 2, '{}', 0, 0, 0)")
    db.execute(
        "INSERT INTO provider_jobs (local_id, logical_id, provider, model, mode, state, "
        "request_count,"
        " input_path, requests_path, created_at, updated_at)"
        " VALUES ('s', 'j', 'fake', 'm', 'chat', 'prepared', 2, 'i', 'r', 0, 0)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    ledger = Ledger(path)
    # A version-1 intent may have been sent (that version did not mark it): it is reconciled first.
    job = ledger.job("s")
    assert job.state is JobState.SUBMITTING and job.owner is None
    assert ledger.claim("s", "me", 60.0) is not None
    assert (
        ledger.claim("s", "other", 60.0) is None
    )  # "me" is not a live process's id: the lease decides


def test_claims_of_a_dead_process_are_taken_over_at_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    from batch_router_core.jobs.claims import Claimant, owner_is_dead

    code = "from batch_router_core.jobs.claims import Claimant; print(Claimant.current().id)"
    dead = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    me = Claimant.current()
    assert owner_is_dead(dead) and not owner_is_dead(me.id)
    assert not owner_is_dead(dead.replace(me.host, "another-host", 1))  # only its lease can tell
    # The same machine name seen from elsewhere (a clone, a container given the same --hostname),
    # or an owner id of an older version without the digest: only the lease can tell either.
    name, _, _ = me.host.partition("~")
    assert not owner_is_dead(dead.replace(me.host, f"{name}~000000000000", 1))
    assert not owner_is_dead(dead.replace(me.host, name, 1))
    elsewhere = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BATCH_ROUTER_HOST_ID": "another-place"},
    ).stdout.strip()
    assert elsewhere.split("/")[0] != me.host and not owner_is_dead(elsewhere)
    ledger = Ledger(tmp_path / "l.sqlite3")
    ledger.create_job(
        job_id="j",
        provider="fake",
        model="m",
        mode=BatchMode.CHAT,
        request_count=2,
        params={},
        shards=[_shard(tmp_path, "s")],
        owner=dead,
        lease_s=3600,
    )
    assert ledger.claim("s", me.id, 60.0) is not None  # its lease has an hour left, but it is dead
    assert ledger.claim("s", Claimant.current().id, 60.0) is None  # a live holder keeps it
    ledger.release(me.id)
    assert ledger.job("s").owner is None
