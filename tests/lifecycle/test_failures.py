"""What each failure leaves behind: outages, refusals, interruptions and ledgers that cannot be
used.

Real emulator processes, real CLI processes (signalled for real), real SQLite files.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from batch_router_core.testing.harness import (
    CLI,
    PROVIDER_ARGS,
    EmulatorProcess,
    cli,
    cli_env,
    write_questions,
)

from .conftest import result_ids

RUN_OPENAI = [
    "run",
    "in.jsonl",
    "-p",
    "openai",
    *PROVIDER_ARGS["openai"],
    "--poll-interval",
    "0.05",
]


def _fault(emulator: EmulatorProcess, route: str, kind: str, times: int) -> None:
    body = json.dumps({"route": route, "kind": kind, "times": times}).encode()
    request = urllib.request.Request(emulator.url + "/_emulator/faults", data=body, method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def _wait_for_submission(run: subprocess.Popen[str], directory: Path) -> None:
    """Until the run's batch is submitted (and still running), or fail saying what the run
    printed."""
    deadline = time.monotonic() + 60
    ledger = directory / ".batch_router" / "ledger.sqlite3"
    while time.monotonic() < deadline:
        if run.poll() is not None:
            raise AssertionError(
                f"the run ended (exit {run.returncode}) before the test could act: "
                f"{run.communicate()[1][-2000:]}"
            )
        if ledger.exists():
            db = sqlite3.connect(ledger)
            try:
                if db.execute(
                    "SELECT count(*) FROM provider_jobs WHERE state = 'submitted'"
                ).fetchone()[0]:
                    return
            except sqlite3.Error:
                pass  # the run is still creating it
            finally:
                db.close()
        time.sleep(0.05)
    run.kill()
    raise AssertionError(f"the run never submitted: {run.communicate()[1][-2000:]}")


def test_an_outage_while_polling_does_not_end_the_wait(tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 4)
    with EmulatorProcess("openai", speed=5.0) as emulator:
        run = cli([*RUN_OPENAI, "-o", "out.jsonl"], tmp_path, emulator, background=True)
        _wait_for_submission(run, tmp_path)
        _fault(emulator, "GET /v1/batches/*", "unavailable", 40)  # far beyond one call's retries
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        assert "retrying" in stderr and "503" in stderr  # the user saw why it was waiting
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)


def test_a_refused_submit_fails_that_job_only(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 3)
    with EmulatorProcess("openai") as emulator:
        _fault(emulator, "POST /v1/files", "unauthorized", 1)
        refused = cli(
            ["submit", "in.jsonl", "-p", "openai", *PROVIDER_ARGS["openai"]], tmp_path, emulator
        )
        assert refused.returncode == 4, refused.stderr  # the job id is printed all the same
        assert "refused" in refused.stderr and "401" in refused.stderr
        job_id = refused.stdout.strip()
        status = cli(["status", job_id, "--json"], tmp_path, emulator)
        record = json.loads(status.stdout)
        assert record["status"] == "failed"
        assert "Incorrect API key" in record["provider_jobs"][0]["error"]
        # Another job is not blocked by it, and resume has nothing left to do for the refused one.
        ok = cli([*RUN_OPENAI, "-o", "ok.jsonl"], tmp_path, emulator)
        assert ok.returncode == 0, ok.stderr
        again = cli(["resume", "--json"], tmp_path, emulator)
        assert again.returncode == 0 and json.loads(again.stdout)["resumed"] == []
        assert emulator.stats()["batches"] == 1
        results = cli(["results", job_id, "-o", "refused.jsonl"], tmp_path, emulator)
        assert results.returncode == 9, results.stderr  # written, and the job failed as a whole
    lines = [json.loads(x) for x in (tmp_path / "refused.jsonl").read_text().splitlines()]
    assert {r["status"] for r in lines} == {"errored"} and len(lines) == 3


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupting_a_wait_leaves_a_resumable_job(sig: int, code: int, tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 4)
    with EmulatorProcess("openai", speed=5.0) as emulator:
        run = cli([*RUN_OPENAI, "-o", "out.jsonl"], tmp_path, emulator, background=True)
        _wait_for_submission(run, tmp_path)
        run.send_signal(sig)
        _, stderr = run.communicate(timeout=30)
        assert run.returncode == code, stderr
        assert "Traceback" not in stderr and "batch-router wait job-" in stderr
        job_id = stderr.split("batch-router wait ")[1].split()[0].rstrip("`")
        db = sqlite3.connect(tmp_path / ".batch_router" / "ledger.sqlite3")
        assert (
            db.execute("SELECT count(*) FROM provider_jobs WHERE owner IS NOT NULL").fetchone()[0]
            == 0
        )
        db.close()
        _fault(emulator, "GET /v1/batches/*", "unavailable", 0)
        waited = cli(["wait", job_id, "--poll-interval", "0.05"], tmp_path, emulator, env={})
        assert waited.returncode == 0, waited.stderr
        assert cli(["results", job_id, "-o", "out.jsonl"], tmp_path, emulator).returncode == 0
        assert emulator.stats()["batches"] == 1
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)


# -- the ledger ------------------------------------------------------------------------------------


def _jobs(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batch_router_core.cli", "jobs"],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "content, what", [(b"", "is empty"), (b"garbage" * 100, "not a SQLite database")]
)
def test_an_empty_or_garbage_ledger_is_refused_not_reset(
    tmp_path: Path, content: bytes, what: str
) -> None:
    ledger = tmp_path / ".batch_router" / "ledger.sqlite3"
    ledger.parent.mkdir()
    ledger.write_bytes(content)
    proc = _jobs(tmp_path)
    assert proc.returncode == 7 and what in proc.stderr and str(ledger) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert ledger.read_bytes() == content  # untouched


def test_a_truncated_ledger_is_refused(tmp_path: Path) -> None:
    from batch_router_core.jobs.ledger import Ledger
    from batch_router_core.models import BatchMode

    path = tmp_path / ".batch_router" / "ledger.sqlite3"
    ledger = Ledger(path)
    for n in range(200):
        ledger.create_job(
            job_id=f"j{n}",
            provider="fake",
            model="m",
            mode=BatchMode.CHAT,
            request_count=1,
            params={"pad": "x" * 500},
            shards=[],
        )
    ledger._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ledger.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    proc = _jobs(tmp_path)
    assert proc.returncode == 7, proc.stderr
    assert str(path) in proc.stderr and "Traceback" not in proc.stderr


def _first_open(path: str) -> None:
    from batch_router_core.jobs.ledger import Ledger

    Ledger(path).close()


def test_concurrent_first_opens_are_safe(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(15):
        path = str(tmp_path / f"t{trial}" / "ledger.sqlite3")
        procs = [ctx.Process(target=_first_open, args=(path,)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 2
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not [f for f in os.listdir(Path(path).parent) if f.endswith(".new")]


def test_a_ledger_deleted_mid_run_is_reported(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 3)
    with EmulatorProcess("openai", speed=5.0) as emulator:
        run = cli(
            [*RUN_OPENAI, "-o", "out.jsonl"],
            tmp_path,
            emulator,
            background=True,
            env={"BATCH_ROUTER_LEASE_S": "0.6"},
        )
        _wait_for_submission(run, tmp_path)
        (tmp_path / ".batch_router" / "ledger.sqlite3").unlink()
        _, stderr = run.communicate(timeout=60)
    assert run.returncode == 7, stderr
    assert "deleted or replaced" in stderr and "Traceback" not in stderr


def _unshare_works() -> bool:
    try:
        return (
            subprocess.run(["unshare", "-Urm", "true"], capture_output=True, timeout=10).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(
    not _unshare_works(),
    reason="needs `unshare -Urm` (user + mount namespaces) to mount "
    "a read-only or a tiny file system for real",
)
@pytest.mark.parametrize(
    "mount, expected",
    [
        ("mount --bind {d} {d} && mount -o remount,ro,bind {d}", "read-only"),
        ("mount -t tmpfs -o size=48k tmpfs {d}", "full"),
    ],
)
def test_read_only_or_full_ledger_storage_gives_a_clear_error(
    tmp_path: Path, mount: str, expected: str
) -> None:
    d = tmp_path / "state"
    d.mkdir()
    write_questions(tmp_path / "in.jsonl", 400)
    env = cli_env(BATCH_ROUTER_STATE_DIR=str(d / ".batch_router"))
    if expected == "read-only":  # a ledger that exists but can no longer be written
        subprocess.run(
            [*CLI, "prepare", str(tmp_path / "in.jsonl"), "-p", "openai", "-m", "gpt-4o-mini"],
            cwd=d,
            env=env,
            check=True,
            capture_output=True,
        )
    script = (
        f"{mount.format(d=d)} && cd {d} && exec {sys.executable} -m batch_router_core.cli prepare "
        f"{tmp_path / 'in.jsonl'} -p openai -m gpt-4o-mini >/dev/null && exec {sys.executable} -m "
        f"batch_router_core.cli submit {tmp_path / 'in.jsonl'} -p openai -m gpt-4o-mini "
        "--option base_url=http://127.0.0.1:9/v1 --option api_key=k"
    )
    proc = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in (1, 3, 7), proc.stderr
    assert expected in proc.stderr.lower() and "Traceback" not in proc.stderr, proc.stderr


def test_a_job_refused_while_polling_does_not_hold_up_the_others(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 3)
    with EmulatorProcess("openai", speed=5.0) as emulator:
        first = cli(
            ["submit", "in.jsonl", "-p", "openai", *PROVIDER_ARGS["openai"]], tmp_path, emulator
        )
        second = cli(
            ["submit", "in.jsonl", "-p", "openai", *PROVIDER_ARGS["openai"]], tmp_path, emulator
        )
        assert first.returncode == second.returncode == 0, first.stderr + second.stderr
        db = sqlite3.connect(tmp_path / ".batch_router" / "ledger.sqlite3")
        [(stuck_batch,)] = db.execute(
            "SELECT batch_id FROM provider_jobs p JOIN logical_jobs l ON l.id = "
            "p.logical_id WHERE l.id = ?",
            (first.stdout.strip(),),
        ).fetchall()
        db.close()
        _fault(emulator, f"GET /v1/batches/{stuck_batch}", "unauthorized", 1000)
        resumed = cli(["resume", "--poll-interval", "0.05"], tmp_path, emulator)
        assert resumed.returncode == 4, resumed.stderr
        assert "Incorrect API key" in resumed.stderr and "Traceback" not in resumed.stderr
        done = cli(["results", second.stdout.strip(), "-o", "out.jsonl"], tmp_path, emulator)
        assert done.returncode == 0, done.stderr  # the other job was waited for and downloaded


def test_a_run_whose_create_is_refused_exits_4_and_stays_refused(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 3)
    with EmulatorProcess("openai") as emulator:
        _fault(emulator, "POST /v1/files", "unauthorized", 1)
        run = cli([*RUN_OPENAI, "-o", "out.jsonl", "--json"], tmp_path, emulator)
        assert run.returncode == 4, run.stderr
        assert "refused provider job" in run.stderr and "Incorrect API key" in run.stderr
        job_id = json.loads(run.stdout)["job_id"]
        after = json.loads(cli(["status", job_id, "--json"], tmp_path, emulator).stdout)
    assert after["status"] == "failed" and after["provider_jobs"][0]["state"] == "failed"
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["status"] for r in lines] == ["errored"] * 3
    assert all(r["error"]["code"] == "batch_refused" for r in lines)


def test_resume_finds_the_base_url_in_the_ledger_and_no_secret_is_stored(tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 3)
    secret = "sk-test-not-a-real-key-0123456789"
    with EmulatorProcess("openai") as emulator:
        crashed = cli(
            [*RUN_OPENAI, "-o", "out.jsonl", "--option", f"api_key={secret}"],
            tmp_path,
            emulator,
            crash="after_create",
        )
        assert crashed.returncode == -signal.SIGKILL
        # No --option at all: the base URL comes from the ledger, the key from the environment.
        env = {**cli_env(), "OPENAI_API_KEY": "k"}
        bare = [sys.executable, "-m", "batch_router_core.cli"]
        resumed = subprocess.run(
            [*bare, "resume", "--poll-interval", "0.05", "--json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        [job_id] = json.loads(resumed.stdout)["resumed"]
        got = subprocess.run(
            [*bare, "results", job_id, "-o", "out.jsonl"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert got.returncode == 0, got.stderr
        assert emulator.stats()["batches"] == 1
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)
    for f in (tmp_path / ".batch_router").rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    db = sqlite3.connect(tmp_path / ".batch_router" / "ledger.sqlite3")
    [(options,)] = db.execute("SELECT options_json FROM logical_jobs").fetchall()
    assert json.loads(options) == {"base_url": emulator.url + "/v1"}
