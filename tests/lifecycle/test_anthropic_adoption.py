"""Anthropic's Message Batches carry no tag: after a crash, a batch is adopted only when proven.

Sharded runs with equal-size shards are SIGKILLed at every crash point and resumed; two unrelated
jobs of the same size (in different directories, so different ledgers) crash and resume beside each
other. Each job must get its own answers, every request exactly once; where two batches hold exactly
the same custom_ids, the shard is parked for the user (exit 6) rather than guessed.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from batch_router_core.testing.harness import PROVIDER_ARGS, EmulatorProcess, cli, write_questions

from .conftest import recorded_shards, result_ids, shard_config

RUN = ["run", "in.jsonl", "-p", "anthropic", *PROVIDER_ARGS["anthropic"], "--poll-interval", "0.05"]


@pytest.mark.parametrize("step", ["after_intent", "after_create", "polling", "download"])
def test_sharded_equal_size_crash_is_resumed_exactly_once(step: str, tmp_path: Path) -> None:
    shard_config(tmp_path, "anthropic", 3)
    ids = write_questions(tmp_path / "in.jsonl", 12)
    with EmulatorProcess("anthropic") as emulator:
        crashed = cli([*RUN, "--shard", "-o", "first.jsonl"], tmp_path, emulator, crash=step)
        assert crashed.returncode == -signal.SIGKILL, crashed.stderr
        resumed = cli(["resume", "--poll-interval", "0.05", "--json"], tmp_path, emulator)
        assert resumed.returncode == 0, resumed.stderr
        [job_id] = json.loads(resumed.stdout)["resumed"]
        assert emulator.stats()["batches"] == recorded_shards(tmp_path) == 4
        got = cli(["results", job_id, "-o", "out.jsonl"], tmp_path, emulator)
        assert got.returncode == 0, got.stderr
    out = tmp_path / "out.jsonl"
    assert sorted(result_ids(out)) == sorted(ids)
    for line in out.read_text().splitlines():  # each answer is to this request's own question
        record = json.loads(line)
        assert f"Question {record['custom_id'].removeprefix('q')}:" in record["text"], record


def _answers(path: Path) -> dict[str, str]:
    return {r["custom_id"]: r["text"] for r in map(json.loads, path.read_text().splitlines())}


def test_two_unrelated_same_size_jobs_keep_their_own_results(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_questions(a / "in.jsonl", 4, prefix="a")
    write_questions(b / "in.jsonl", 4, prefix="b")
    with EmulatorProcess("anthropic") as emulator:
        done = cli([*RUN, "-o", "out.jsonl"], a, emulator)
        assert done.returncode == 0, done.stderr
        crashed = cli([*RUN, "-o", "out.jsonl"], b, emulator, crash="after_create")
        assert crashed.returncode == -signal.SIGKILL
        resumed = cli(["resume", "--poll-interval", "0.05", "--json"], b, emulator)
        assert resumed.returncode == 0, resumed.stderr
        [job_id] = json.loads(resumed.stdout)["resumed"]
        assert emulator.stats()["batches"] == 2, "job B's batch was created twice"
        assert cli(["results", job_id, "-o", "out.jsonl"], b, emulator).returncode == 0
    assert sorted(_answers(b / "out.jsonl")) == ["b0", "b1", "b2", "b3"]
    assert _answers(a / "out.jsonl").keys().isdisjoint(_answers(b / "out.jsonl"))


def test_indistinguishable_candidates_are_parked_not_guessed(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_questions(a / "in.jsonl", 4)
    write_questions(b / "in.jsonl", 4)  # the same custom_ids, in another directory
    with EmulatorProcess("anthropic") as emulator:
        assert cli([*RUN, "-o", "out.jsonl"], a, emulator).returncode == 0
        crashed = cli([*RUN, "-o", "out.jsonl"], b, emulator, crash="after_create")
        assert crashed.returncode == -signal.SIGKILL
        resumed = cli(["resume", "--poll-interval", "0.05"], b, emulator)
        assert resumed.returncode == 6, resumed.stderr
        assert (
            "needs attention" in resumed.stderr
            and "cannot tell which one it created" in resumed.stderr
        )
        assert emulator.stats()["batches"] == 2, (
            "nothing may be created while candidates are unverified"
        )
        [job_id] = [
            line.split()[1].rstrip(":")
            for line in resumed.stdout.splitlines()
            if line.startswith("resumed")
        ]
        status = cli(["status", job_id], b, emulator)
        assert "needs_attention" in status.stdout
        results = cli(["results", job_id, "-o", "out.jsonl"], b, emulator)
        assert results.returncode == 6 and not (b / "out.jsonl").exists()
