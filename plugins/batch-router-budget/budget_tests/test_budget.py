"""The daily budget, through real CLI processes against the OpenAI emulator: a job that would take
the day over the budget is refused before the provider sees it, and concurrent processes cannot
both spend the last of it."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

from batch_router_core.testing.harness import CLI, EmulatorProcess, cli, cli_env, write_questions

RUN = ["-p", "openai", "-m", "gpt-4o-mini", "--max-output-tokens", "200"]


def _upper_bound(tmp_path: Path) -> float:
    """The job's upper-bound cost, as ``prepare`` estimates it (no provider involved)."""
    env = {**cli_env(), "BATCH_ROUTER_STATE_DIR": str(tmp_path / "prepared")}
    proc = subprocess.run(
        [*CLI, "prepare", "in.jsonl", *RUN, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    bound: float = json.loads(proc.stdout)["estimate"]["cost_max"]
    return bound


def test_a_job_over_the_days_budget_is_refused_before_the_provider_sees_it(
    tmp_path: Path,
) -> None:
    write_questions(tmp_path / "in.jsonl", 20)
    with EmulatorProcess("openai") as emulator:
        bound = _upper_bound(tmp_path)
        env = {"BATCH_ROUTER_DAILY_BUDGET": str(bound * 1.5)}
        first = cli(["run", "in.jsonl", *RUN, "--poll-interval", "0.05", "-o", "a.jsonl"],
                    tmp_path, emulator, env=env)  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert emulator.stats()["batches"] == 1
        second = cli(["run", "in.jsonl", *RUN, "--poll-interval", "0.05", "-o", "b.jsonl"],
                     tmp_path, emulator, env=env)  # fmt: skip
        assert second.returncode == 4, second.stderr  # refused before the create: exit 4
        assert "daily budget" in second.stderr and "nothing was sent" in second.stderr
        assert emulator.stats()["batches"] == 1  # the provider never saw the second job
        # Without the budget the same job goes through.
        third = cli(["run", "in.jsonl", *RUN, "--poll-interval", "0.05", "-o", "c.jsonl"],
                    tmp_path, emulator)  # fmt: skip
        assert third.returncode == 0, third.stderr
        assert emulator.stats()["batches"] == 2
    budget_file = tmp_path / ".batch_router" / "budget.sqlite3"
    assert stat.S_IMODE(budget_file.stat().st_mode) == 0o600


def test_concurrent_processes_cannot_both_spend_the_last_of_it(tmp_path: Path) -> None:
    write_questions(tmp_path / "in.jsonl", 10)
    with EmulatorProcess("openai") as emulator:
        bound = _upper_bound(tmp_path)
        env = {"BATCH_ROUTER_DAILY_BUDGET": str(bound * 2.5)}  # room for two jobs, not three
        procs = [
            cli(["submit", "in.jsonl", *RUN], tmp_path, emulator, env=env, background=True)
            for _ in range(4)
        ]
        codes = [p.wait(120) for p in procs]
        assert emulator.stats()["batches"] == 2, [p.stderr.read() for p in procs]
    assert sorted(codes) == [0, 0, 4, 4], codes
