"""Shared pieces of the lifecycle tests (real emulator processes, real CLI processes, real
SQLite)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from batch_router_core.testing.harness import PROVIDER_ARGS, EmulatorProcess, cli

HOSTED = ["openai", "anthropic", "google"]


def shard_config(directory: Path, provider: str, size: int) -> None:
    """Make ``provider``'s batches at most ``size`` requests in ``directory`` (so --shard
    splits)."""
    (directory / "batch-router.yaml").write_text(
        f"providers:\n  {provider}:\n    limits: {{max_requests: {size}}}\n"
    )


def recorded_shards(directory: Path) -> int:
    """Provider jobs recorded in the ledger of ``directory``."""
    db = sqlite3.connect(directory / ".batch_router" / "ledger.sqlite3")
    try:
        return int(db.execute("SELECT count(*) FROM provider_jobs").fetchone()[0])
    finally:
        db.close()


def result_ids(path: Path) -> list[str]:
    """custom_ids of a unified results file, asserting each one succeeded."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(r["status"] == "succeeded" for r in records), [
        r for r in records if r["status"] != "succeeded"
    ]
    return [r["custom_id"] for r in records]


def record_only(cwd: Path, emulator: EmulatorProcess, env: dict[str, str]) -> str:
    """``batch-router submit in.jsonl --record-only`` for the emulator's provider (a producer: the
    job is recorded, nothing is sent); returns the job id."""
    provider = emulator.provider
    recorded = cli(
        ["submit", "in.jsonl", "-p", provider, *PROVIDER_ARGS[provider], "--record-only"],
        cwd,
        emulator,
        env=env,
    )
    assert recorded.returncode == 0, recorded.stderr
    return str(recorded.stdout.strip())
