"""Webhooks instead of polling, all real processes: the OpenAI and Gemini emulators push signed
batch events to `batch-router webhooks serve`, which records them in the ledger; a worker that
would poll once an hour finishes the job as soon as the event lands. Forged, stale, replayed and
unknown-job deliveries are refused and never recorded."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from batch_router_core.emulation.webhooks import event_body
from batch_router_core.jobs.ledgers import open_ledger
from batch_router_core.testing.harness import CLI, EmulatorProcess, cli, cli_env, write_questions
from batch_router_core.webhooks.signatures import new_secret, sign

from .conftest import record_only, result_ids


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Receiver:
    """`batch-router webhooks serve` in its own process."""

    def __init__(self, env: dict[str, str], secret: str, provider: str = "openai") -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/{provider}"
        secret_env = {"openai": "OPENAI_WEBHOOK_SECRET", "google": "GEMINI_WEBHOOK_SECRET"}
        self.proc = subprocess.Popen(
            [*CLI, "webhooks", "serve", "--port", str(self.port)],
            env=cli_env(**env, **{secret_env[provider]: secret}, BATCH_ROUTER_LOG="info"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while self.post(b"{}", {})[0] == 0:
            assert time.monotonic() < deadline and self.proc.poll() is None, "receiver not up"
            time.sleep(0.1)

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:  # type: ignore[type-arg]
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read())
        except OSError:
            return 0, {}

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        return err.decode()


def _event(event_id: str, batch_id: str, kind: str = "batch.completed") -> bytes:
    return event_body(event_id, kind, {"id": batch_id})


#: per provider: the emulator's request-count key of reading one batch
_BATCH_READS = {"openai": "GET /v1/batches/", "google": "GET batches"}


@pytest.mark.parametrize("provider", sorted(_BATCH_READS))
def test_a_signed_event_finishes_a_job_that_polling_would_not_reach(
    tmp_path: Path, provider: str
) -> None:
    batch_reads = _BATCH_READS[provider]
    ids = write_questions(tmp_path / "in.jsonl", 3)
    secret = new_secret()
    env = {"BATCH_ROUTER_STATE_DIR": str(tmp_path / "state")}
    receiver = _Receiver(env, secret, provider)
    emulator = EmulatorProcess(
        provider,
        speed=100.0,
        extra_args=["--webhook-url", receiver.url, "--webhook-secret", secret],
    )
    try:
        emulator.start()
        job_id = record_only(tmp_path, emulator, env)
        started = time.monotonic()
        # One poll an hour: only the webhook can end this within the test's time.
        worked = cli(
            ["worker", "--poll-interval", "1h", "--until-idle", "--json"],
            tmp_path,
            emulator,
            env=env,
            timeout=120,
        )
        took = time.monotonic() - started
        assert worked.returncode == 0, worked.stderr
        polls = {k: v for k, v in emulator.stats()["requests"].items() if k.startswith(batch_reads)}
        got = cli(["results", job_id, "-o", "out.jsonl"], tmp_path, emulator, env=env)
        assert got.returncode == 0, got.stderr
    finally:
        emulator.stop()
        log = receiver.stop()
    assert took < 60, took
    # The worker polled once after the event, and fetching the results read the batch once: no
    # polling loop.
    assert sum(polls.values()) <= 3, polls
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)
    ledger = open_ledger(tmp_path / "state" / "ledger.sqlite3")
    [job] = ledger.jobs_of(job_id)
    assert "webhook_accepted" in log and job.local_id in log
    assert [local for local, _ in ledger.webhook_events_since(0)] == [job.local_id]


def test_forged_stale_replayed_and_unknown_deliveries_are_refused(tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 2)
    secret = new_secret()
    env = {"BATCH_ROUTER_STATE_DIR": str(tmp_path / "state")}
    receiver = _Receiver(env, secret)
    try:
        with EmulatorProcess("openai") as emulator:
            ran = cli(
                ["run", "in.jsonl", "-p", "openai", "-m", "gpt-4o-mini", "--poll-interval", "0.05"],
                tmp_path,
                emulator,
                env=env,
            )
            assert ran.returncode == 0, ran.stderr
        ledger = open_ledger(tmp_path / "state" / "ledger.sqlite3")
        [logical] = ledger.logical_jobs()
        [job] = ledger.jobs_of(logical.id)
        known = job.batch_id
        assert known
        good = _event("evt_good", known)
        cases = {
            "unsigned": (good, {}),
            "wrong secret": (good, sign(new_secret(), "evt_good", good)),
            "tampered body": (_event("evt_good", "batch_other"), sign(secret, "evt_good", good)),
            "stale": (good, sign(secret, "evt_good", good, timestamp=int(time.time()) - 3600)),
            "unknown job": (
                _event("evt_unknown", "batch_nobody"),
                sign(secret, "evt_unknown", _event("evt_unknown", "batch_nobody")),
            ),
        }
        codes = {name: receiver.post(body, headers)[0] for name, (body, headers) in cases.items()}
        accepted = receiver.post(good, sign(secret, "evt_good", good))
        replayed = receiver.post(good, sign(secret, "evt_good", good))
        other = receiver.post(
            _event("evt_ft", "ftjob_1", "fine_tuning.job.succeeded"),
            sign(secret, "evt_ft", _event("evt_ft", "ftjob_1", "fine_tuning.job.succeeded")),
        )
    finally:
        log = receiver.stop()
    assert codes == {
        "unsigned": 400,
        "wrong secret": 400,
        "tampered body": 400,
        "stale": 400,
        "unknown job": 404,
    }, codes
    assert accepted[0] == 200 and accepted[1]["local_id"] == job.local_id
    assert replayed[0] == 409 and other[0] == 202
    assert [local for local, _ in ledger.webhook_events_since(0)] == [job.local_id]  # once
    # the six above, and the unsigned probe that waited for the receiver to be up
    assert log.count("webhook_refused") == 7 and log.count("webhook_ignored") == 1, log
    assert secret not in log
    assert len(ids) == 2
