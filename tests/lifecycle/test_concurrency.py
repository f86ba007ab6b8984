"""Concurrency: several batch-router processes on one ledger, on every hosted provider.

Each case uses an emulator in its own process and real CLI processes: two and four simultaneous
``resume``s after a sharded run was SIGKILLed, a ``resume`` beside a live ``run``, and four ``run``s
in one directory at once. Every case must create exactly one provider job per shard, deliver every
custom_id exactly once, and print no traceback.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from batch_router_core.testing.harness import PROVIDER_ARGS, EmulatorProcess, cli, write_questions

from .conftest import HOSTED, recorded_shards, result_ids, shard_config


def _run_args(provider: str, out: str, *extra: str) -> list[str]:
    return [
        "run",
        "in.jsonl",
        "-p",
        provider,
        *PROVIDER_ARGS[provider],
        "--poll-interval",
        "0.05",
        "-o",
        out,
        *extra,
    ]


@pytest.mark.parametrize("resumers", [2, 4])
@pytest.mark.parametrize("provider", HOSTED)
def test_simultaneous_resumes_after_a_crash(provider: str, resumers: int, tmp_path: Path) -> None:
    shard_config(tmp_path, provider, 3)
    ids = write_questions(tmp_path / "in.jsonl", 12)
    with EmulatorProcess(provider) as emulator:
        crashed = cli(
            _run_args(provider, "first.jsonl", "--shard"), tmp_path, emulator, crash="after_create"
        )
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        procs = [
            cli(
                ["resume", "--poll-interval", "0.05", "--json"], tmp_path, emulator, background=True
            )
            for _ in range(resumers)
        ]
        outs = [p.communicate(timeout=180) for p in procs]
        for p, (_, stderr) in zip(procs, outs, strict=True):
            assert p.returncode == 0, stderr
            assert "Traceback" not in stderr, stderr
        job_ids = {i for stdout, _ in outs for i in json.loads(stdout)["resumed"]}
        assert len(job_ids) == 1
        assert emulator.stats()["batches"] == recorded_shards(tmp_path) == 4, (
            "a shard was submitted twice"
        )
        got = cli(["results", job_ids.pop(), "-o", "out.jsonl"], tmp_path, emulator)
        assert got.returncode == 0, got.stderr
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)


@pytest.mark.parametrize("provider", HOSTED)
def test_resume_beside_a_live_run_leaves_it_alone(provider: str, tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 6)
    # A slow clock: the run is still waiting for its batch when the resume starts.
    with EmulatorProcess(provider, speed=20.0) as emulator:
        run = cli(_run_args(provider, "out.jsonl"), tmp_path, emulator, background=True)
        ledger = tmp_path / ".batch_router" / "ledger.sqlite3"
        deadline = time.monotonic() + 60
        while not (ledger.exists() and recorded_shards(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run.poll() is None, (
            "the run ended before the resume started: the test proves nothing"
        )
        resume = cli(["resume", "--poll-interval", "0.05"], tmp_path, emulator)
        run_out, run_err = run.communicate(timeout=180)
        batches = emulator.stats()["batches"]
    assert resume.returncode == 0 and "Traceback" not in resume.stderr, resume.stderr
    assert run.returncode == 0 and "Traceback" not in run_err, run_err
    assert batches == 1, "the resume submitted the live run's job again"
    assert sorted(result_ids(tmp_path / "out.jsonl")) == sorted(ids)
    assert recorded_shards(tmp_path) == 1
    assert not list((tmp_path / ".batch_router").rglob(".*.part"))


@pytest.mark.parametrize("provider", HOSTED)
def test_four_runs_in_one_directory(provider: str, tmp_path: Path) -> None:
    ids = write_questions(tmp_path / "in.jsonl", 5)
    with EmulatorProcess(provider) as emulator:
        procs = [
            cli(_run_args(provider, f"out{n}.jsonl"), tmp_path, emulator, background=True)
            for n in range(4)
        ]
        for p in procs:
            _, stderr = p.communicate(timeout=180)
            assert p.returncode == 0 and "Traceback" not in stderr, stderr
        assert emulator.stats()["batches"] == recorded_shards(tmp_path) == 4
    for n in range(4):
        assert sorted(result_ids(tmp_path / f"out{n}.jsonl")) == sorted(ids)
