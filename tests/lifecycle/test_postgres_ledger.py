"""The ledger on a real PostgreSQL server: the same records and claims as SQLite, shared by
processes that race for the same jobs, chosen by URL from the library and the command line."""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from batch_router_core.jobs.claims import Claimant
from batch_router_core.jobs.ledger import SCHEMA_VERSION, JobState, LedgerError, UnknownJobError
from batch_router_core.jobs.ledger_postgres import PostgresLedger, redacted_url
from batch_router_core.jobs.ledgers import open_ledger
from batch_router_core.models import (
    BatchHandle,
    BatchMode,
    BatchStatus,
    BatchStatusReport,
    RequestCounts,
)
from batch_router_core.testing.harness import (
    CLI,
    EmulatorProcess,
    cli,
    cli_env,
    write_questions,
)

from .conftest import record_only, result_ids

#: where the ledger-level tests' shard files are written (a PostgreSQL ledger stores copies)
_FILES = Path(tempfile.mkdtemp(prefix="br-pg-shards-"))
atexit.register(shutil.rmtree, _FILES, True)


def _shard(local_id: str) -> dict:  # type: ignore[type-arg]
    paths = {
        "input_path": _FILES / f"{local_id}.jsonl",
        "requests_path": _FILES / f"{local_id}.requests.jsonl",
    }
    for path in paths.values():
        path.write_text(f'{{"custom_id": "{local_id}"}}\n')
    return {"local_id": local_id, "request_count": 2, "est_tokens": 10, **paths}


def _record(ledger: PostgresLedger, job: str, shards: int = 1, **claim: object) -> None:
    ledger.create_job(
        job_id=job,
        provider="fake",
        model="m",
        mode=BatchMode.CHAT,
        request_count=2 * shards,
        params={"model_id": "m"},
        shards=[_shard(f"{job}-s{i}") for i in range(shards)],
        **claim,  # type: ignore[arg-type]
    )


def _handle(local_id: str) -> BatchHandle:
    return BatchHandle(
        provider="fake",
        batch_id=f"b-{local_id}",
        local_id=local_id,
        model="m",
        mode=BatchMode.CHAT,
        request_count=2,
    )


def test_a_job_goes_through_its_lifecycle_on_postgres(postgres_url: str) -> None:
    ledger = open_ledger(postgres_url)
    assert isinstance(ledger, PostgresLedger)
    _record(ledger, "j", shards=2)
    me = Claimant.current().id
    assert ledger.claim("j-s0", me, 60.0) is not None
    assert ledger.claim("j-s0", "someone-else@host:1:1", 60.0) is None  # a live lease holds
    ledger.begin_submit("j-s0", me)
    ledger.record_submitted("j-s0", _handle("j-s0"), me)
    assert ledger.in_flight("fake", "m") == (1, 10)
    report = BatchStatusReport(
        provider="fake",
        batch_id="b-j-s0",
        status=BatchStatus.COMPLETED,
        raw_status="completed",
        request_counts=RequestCounts(total=2, succeeded=2),
    )
    assert ledger.record_status("j-s0", report, me).state is JobState.ENDED
    assert ledger.record_results("j-s0", Path("/r"), None, me).state is JobState.FETCHED
    assert [j.local_id for j in ledger.unfinished()] == ["j-s1"]
    assert ledger.known_batch_ids("fake") == frozenset({"b-j-s0"})
    assert [j.local_id for j in ledger.jobs_of("j")] == ["j-s0", "j-s1"]
    assert ledger.logical("j").params == {"model_id": "m"}
    ledger.release(me)
    with pytest.raises(LedgerError, match="not finished"):
        ledger.forget("j")
    with pytest.raises(UnknownJobError, match="br_test_"):
        ledger.logical("nope")
    # A write by a process that lost its claim is refused, not applied.
    ledger.claim("j-s1", "other@host:1:1", 60.0)
    with pytest.raises(LedgerError, match="held by other@host"):
        ledger.begin_submit("j-s1", me)
    ledger.close()


def _claimer(url: str, owner: str, ids: list[str], out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    ledger = open_ledger(url)
    won = [i for i in ids if ledger.claim(i, owner, 300.0) is not None]
    out.put((owner, won))
    ledger.close()


def test_processes_racing_for_the_same_jobs_each_get_a_job_exactly_once(postgres_url: str) -> None:
    ledger = open_ledger(postgres_url)
    _record(ledger, "race", shards=60)
    ids = [f"race-s{i}" for i in range(60)]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    # Owners on another host: only the lease can decide, never a liveness check.
    procs = [
        ctx.Process(target=_claimer, args=(postgres_url, f"w{n}@elsewhere:{n}:1", ids, out))
        for n in range(4)
    ]
    for p in procs:
        p.start()
    won = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    claimed = [i for got in won.values() for i in got]
    assert sorted(claimed) == sorted(ids)  # every job once: none twice, none lost
    holders = {j.local_id: j.owner for j in ledger.jobs_of("race")}
    assert all(holders[i] == owner for owner, got in won.items() for i in got)


def _migrator(url: str) -> None:
    open_ledger(url).close()


def test_processes_starting_together_agree_on_the_schema(postgres_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_migrator, args=(postgres_url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with psycopg.connect(postgres_url) as db:
        assert db.execute("SELECT version FROM batch_router_schema").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        db.execute("UPDATE batch_router_schema SET version = 99")
    with pytest.raises(LedgerError, match="newer batch-router"):
        open_ledger(postgres_url)


def test_an_unreachable_server_is_a_clear_error_without_the_password() -> None:
    url = "postgresql://br:s3cret-pw@127.0.0.1:1/nowhere"
    assert redacted_url(url) == "postgresql://br:***@127.0.0.1:1/nowhere"
    with pytest.raises(LedgerError) as exc:
        PostgresLedger(url, connect_timeout_s=2)
    assert "s3cret-pw" not in str(exc.value) and "is the server running" in str(exc.value)


def test_the_command_line_runs_and_resumes_on_a_shared_ledger(
    postgres_url: str, tmp_path: Path
) -> None:
    """A run killed right after the provider created its job, resumed from another working
    directory on the same PostgreSQL ledger: one provider job, every result once, no ledger file."""
    ids = write_questions(tmp_path / "in.jsonl", 4)
    shared = {"BATCH_ROUTER_STATE_DIR": str(tmp_path / "state")}
    with EmulatorProcess("openai") as emulator:
        crashed = cli(
            [
                "--ledger",
                postgres_url,
                "run",
                "in.jsonl",
                "-p",
                "openai",
                "-m",
                "gpt-4o-mini",
                "--poll-interval",
                "0.05",
            ],
            tmp_path,
            emulator,
            crash="after_create",
            env=shared,
        )
        assert crashed.returncode == -signal.SIGKILL
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = {**shared, "BATCH_ROUTER_LEDGER": postgres_url}
        listed = cli(["jobs", "--json"], elsewhere, emulator, env=env)
        assert listed.returncode == 0, listed.stderr
        [job] = [json.loads(line) for line in listed.stdout.splitlines()]
        resumed = cli(["resume", "--poll-interval", "0.05", "--json"], elsewhere, emulator, env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout)["resumed"] == [job["job_id"]]
        got = cli(["results", job["job_id"], "-o", "out.jsonl"], elsewhere, emulator, env=env)
        assert got.returncode == 0, got.stderr
        assert emulator.stats()["batches"] == 1
    assert sorted(result_ids(elsewhere / "out.jsonl")) == sorted(ids)
    assert not (tmp_path / "state" / "ledger.sqlite3").exists()
    bare = subprocess.run(
        [*CLI, "--ledger", postgres_url, "status", "job-nope"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bare.returncode == 10 and "br_test_" in bare.stderr


def test_a_python_program_picks_the_ledger_from_the_environment(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batch_router_core.jobs.router import BatchRouter

    monkeypatch.setenv("BATCH_ROUTER_LEDGER", postgres_url)
    assert isinstance(BatchRouter().ledger, PostgresLedger)
    monkeypatch.delenv("BATCH_ROUTER_LEDGER")
    assert not isinstance(BatchRouter(ledger=None).ledger, PostgresLedger)
    assert isinstance(BatchRouter(ledger=postgres_url).ledger, PostgresLedger)


if sys.platform == "win32":  # pragma: no cover - the server binaries are the Unix ones here
    pytestmark = pytest.mark.skip(reason="the test server runs on Unix sockets")


def test_a_producer_records_and_a_worker_sends_from_the_command_line(
    postgres_url: str, tmp_path: Path
) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 3)
    env = {"BATCH_ROUTER_STATE_DIR": str(tmp_path / "state"), "BATCH_ROUTER_LEDGER": postgres_url}
    with EmulatorProcess("openai") as emulator:
        job_id = record_only(tmp_path, emulator, env)
        assert emulator.stats()["batches"] == 0  # recorded, not sent
        before = _metrics(env)
        assert before["jobs_by_state"] == {"prepared": 1} and before["claims"] == {}
        assert "br_test_" in before["ledger"]
        worked = cli(
            ["worker", "--until-idle", "--poll-interval", "0.1", "--json"],
            tmp_path,
            emulator,
            env={**env, "BATCH_ROUTER_LOG": "info"},
        )
        assert worked.returncode == 0, worked.stderr
        # The fleet's metrics as a structured log event, as well as the command.
        logged = [line for line in worked.stderr.splitlines() if "ledger_metrics" in line]
        assert logged and "jobs_by_state={'submitted': 1}" in logged[0], worked.stderr
        rounds = [json.loads(line) for line in worked.stdout.splitlines()]
        assert rounds[-1]["unfinished"] == 0 and rounds[-1]["held"] == 0
        assert emulator.stats()["batches"] == 1
        got = cli(["results", job_id, "-o", "out.jsonl"], tmp_path, emulator, env=env)
        assert got.returncode == 0, got.stderr
        after = _metrics(env)
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)
    assert after["jobs_by_state"] == {"fetched": 1} and after["oldest_unfinished"] is None


def _metrics(env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    shown = subprocess.run(
        [*CLI, "metrics", "--json"], env=cli_env(**env), capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)  # type: ignore[no-any-return]


def _starter(url: str, owner: str, local_id: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    ledger = open_ledger(url)
    ledger.claim(local_id, owner, 300.0)
    out.put((local_id, ledger.begin_submit(local_id, owner, max_jobs=1) is not None))
    ledger.close()


def test_a_limit_on_jobs_in_flight_holds_when_processes_start_jobs_at_once(
    postgres_url: str,
) -> None:
    """Four processes each about to create a different job of one model, the limit one job in
    flight: exactly one may go (the count and the mark are one decision per model)."""
    for attempt in range(6):
        ledger = open_ledger(postgres_url)
        _record(ledger, f"cap{attempt}", shards=4)
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(
                target=_starter,
                args=(postgres_url, f"w{n}@elsewhere:{n}:1", f"cap{attempt}-s{n}", out),
            )
            for n in range(4)
        ]
        for p in procs:
            p.start()
        started = dict(out.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        assert sum(started.values()) == 1, started
        states = [j.state for j in ledger.jobs_of(f"cap{attempt}")]
        assert states.count(JobState.SUBMITTING) == 1 and states.count(JobState.PREPARED) == 3
        # Let the next attempt start from an empty model: end this one's job.
        for j in ledger.jobs_of(f"cap{attempt}"):
            if j.state is JobState.SUBMITTING:
                ledger.record_refused(j.local_id, "test over")
        ledger.close()


def test_a_worker_on_another_host_takes_over_when_the_lease_runs_out(
    postgres_url: str, tmp_path: Path
) -> None:
    """Two worker "hosts" (distinct ``BATCH_ROUTER_HOST_ID``: their claims cannot be checked
    through each other's ``/proc``): the first is SIGKILLed holding a submitted job; the second
    leaves the job alone until the dead worker's lease has run out, then finishes it without a
    second create."""
    import os
    import time

    write_questions(tmp_path / "in.jsonl", 3)
    base = {"BATCH_ROUTER_STATE_DIR": str(tmp_path / "state"), "BATCH_ROUTER_LEDGER": postgres_url}
    lease = {"BATCH_ROUTER_LEASE_S": "6"}
    ledger = open_ledger(postgres_url)
    # Real time: the job takes ~12 s at the emulator, long enough to kill its worker mid-flight.
    with EmulatorProcess("openai", speed=1.0) as emulator:
        [job] = ledger.jobs_of(record_only(tmp_path, emulator, base))
        first = cli(
            ["worker", "--poll-interval", "0.2"],
            tmp_path,
            emulator,
            env={**base, **lease, "BATCH_ROUTER_HOST_ID": "host-a"},
            background=True,
        )
        deadline = time.monotonic() + 60
        while (held := ledger.job(job.local_id)).batch_id is None:
            assert time.monotonic() < deadline and first.poll() is None, "never submitted"
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.communicate()
        dead = ledger.job(job.local_id)
        assert dead.owner is not None and dead.lease_until is not None
        second = cli(
            ["worker", "--until-idle", "--poll-interval", "0.2", "--json"],
            tmp_path,
            emulator,
            env={**base, **lease, "BATCH_ROUTER_HOST_ID": "host-b"},
            background=True,
        )
        taken_at = None
        while second.poll() is None:
            now_owner = ledger.job(job.local_id).owner
            if taken_at is None and now_owner not in (None, dead.owner):
                taken_at = time.time()
            time.sleep(0.05)
        out, err = second.communicate()
        creates = emulator.stats()["batches"]
    finished = ledger.job(job.local_id)
    ledger.close()
    assert second.returncode == 0, err
    assert taken_at is not None, "the second worker never claimed the job"
    # Not a moment before the dead worker's lease ran out (the same host would not have waited),
    # and soon after.
    assert dead.lease_until <= taken_at <= dead.lease_until + 15, (dead.lease_until, taken_at)
    second_owner = json.loads(out.splitlines()[0])["worker"]
    assert held.owner == dead.owner and dead.owner.split("/")[0] != second_owner.split("/")[0]
    assert creates == 1 and finished.state is JobState.FETCHED
    assert finished.batch_id == held.batch_id


def test_a_worker_without_the_producers_disk_sends_the_job_from_the_ledgers_copy(
    postgres_url: str, tmp_path: Path
) -> None:
    """Three machines' worth of state directories: the producer's is gone before the worker runs,
    and the results are read from a third; the shared ledger carries the job's files."""
    import shutil

    ids = write_questions(tmp_path / "in.jsonl", 5)
    env = {name: str(tmp_path / name) for name in ("producer", "worker", "reader")}
    ledger = {"BATCH_ROUTER_LEDGER": postgres_url}
    with EmulatorProcess("google") as emulator:
        job_id = record_only(
            tmp_path, emulator, {**ledger, "BATCH_ROUTER_STATE_DIR": env["producer"]}
        )
        shutil.rmtree(env["producer"])  # another machine: nothing of the producer's disk here
        worked = cli(
            ["worker", "--until-idle", "--poll-interval", "0.1"],
            tmp_path,
            emulator,
            env={**ledger, "BATCH_ROUTER_STATE_DIR": env["worker"]},
        )
        assert worked.returncode == 0, worked.stderr
        got = cli(
            ["results", job_id, "-o", "out.jsonl"],
            tmp_path,
            emulator,
            env={**ledger, "BATCH_ROUTER_STATE_DIR": env["reader"]},
        )
        assert got.returncode == 0, got.stderr
        created = emulator.stats()["batches"]
    assert created == 1
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)


def test_a_job_whose_files_are_on_another_machine_is_left_for_later_not_lost(
    tmp_path: Path,
) -> None:
    """A SQLite ledger keeps no copies: without the recorder's files a process says which file is
    missing and where, sends nothing, and leaves the job as it was for whoever has them."""
    write_questions(tmp_path / "in.jsonl", 2)
    env = {"BATCH_ROUTER_STATE_DIR": str(tmp_path / "state")}
    with EmulatorProcess("openai") as emulator:
        job_id = record_only(tmp_path, emulator, env)
        ledger = open_ledger(tmp_path / "state" / "ledger.sqlite3")
        [job] = ledger.jobs_of(job_id)
        job.input_path.unlink()
        resumed = cli(["resume", "--poll-interval", "0.05"], tmp_path, emulator, env=env)
        created = emulator.stats()["batches"]
    assert resumed.returncode == 7, resumed.stderr  # its own files cannot be used
    assert str(job.input_path) in resumed.stderr and "keeps no copy" in resumed.stderr
    assert created == 0 and ledger.job(job.local_id).state is JobState.PREPARED


def test_a_jobs_files_are_kept_in_pieces_and_removed_with_it(
    postgres_url: str, tmp_path: Path
) -> None:
    from batch_router_core.jobs.ledger import FILE_CHUNK

    ledger = open_ledger(postgres_url)
    shard = _shard("big-s0")
    data = os.urandom(FILE_CHUNK + 12345)  # two pieces, every byte value
    shard["input_path"].write_bytes(data)
    ledger.create_job(
        job_id="big",
        provider="fake",
        model="m",
        mode=BatchMode.CHAT,
        request_count=2,
        params={"model_id": "m"},
        shards=[shard],
    )
    restored = tmp_path / "here" / "input.jsonl"
    assert ledger.restore_file("big-s0", "input", restored)
    assert restored.read_bytes() == data and restored.stat().st_mode & 0o777 == 0o600
    assert ledger.restore_file("big-s0", "requests", tmp_path / "requests.jsonl")
    assert not ledger.restore_file("nobody", "input", tmp_path / "none.jsonl")
    pieces = ledger._read("SELECT count(*) AS n FROM job_files WHERE local_id = 'big-s0'")
    assert pieces[0]["n"] == 3  # input in two, requests in one
    ledger.claim("big-s0", "me", 60.0)
    report = BatchStatusReport(
        provider="fake",
        batch_id="",
        status=BatchStatus.CANCELLED,
        raw_status="never_submitted",
        request_counts=RequestCounts(total=2, cancelled=2),
    )
    ledger.record_status("big-s0", report, "me")
    ledger.record_results("big-s0", tmp_path / "results.jsonl", None, "me")
    ledger.release("me")
    ledger.forget("big")
    assert ledger._read("SELECT count(*) AS n FROM job_files")[0]["n"] == 0
    ledger.close()
