"""Crash recovery on the newer providers: the command line is SIGKILLed right after the upload and
right after the create (the two moments where a job may exist without the ledger knowing it),
then `batch-router resume` finishes the job. Real processes, real HTTP to each provider's
emulator through its official SDK, a real SQLite ledger. Each case checks that the provider saw
exactly one job and one input upload (nothing sent twice, nothing left behind) and that every
request has exactly one result.

Together's jobs carry no metadata: a lost create is found by the name of its input file, which is
what this proves for it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batch_router_core import BatchProviderRegistry
from batch_router_core.emulation.server import serve_in_thread

CLI = [sys.executable, "-m", "batch_router_core.cli"]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODELS = {
    "azure": "gpt-4o-mini",
    "groq": "llama-3.1-8b-instant",
    "mistral": "mistral-small-latest",
    "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
}


@pytest.fixture(params=sorted(MODELS))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, list[str]]]:
    """(provider, its emulator, the --option flags that point the CLI at it)."""
    name = str(request.param)
    handle = BatchProviderRegistry().get(name)
    emulator = handle.create_emulator({"speed": 100000.0})
    server = serve_in_thread(emulator)
    flags = [
        f for k, v in handle.emulator_options(server.url).items() for f in ("--option", f"{k}={v}")
    ]
    try:
        yield name, emulator, flags
    finally:
        server.stop()


def _cli(args: list[str], cwd: Path, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["BATCH_ROUTER_RETRY_NO_WAIT"] = "1"
    if crash:
        env["BATCH_ROUTER_CRASH_AT"] = crash
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=180
    )


def _uploads(emulator: Any) -> int:
    return sum(1 for f in emulator.state.files.values() if f.purpose == "batch")


@pytest.mark.parametrize("step", ["after_upload", "after_create"])
def test_a_killed_run_is_resumed_without_duplicates(
    step: str, served: tuple[str, Any, list[str]], tmp_path: Path
) -> None:
    name, emulator, flags = served
    run = _cli(
        [
            *("run", str(EXAMPLES / "questions.jsonl"), "-p", name, "-m", MODELS[name]),
            *("--poll-interval", "0.05", "-o", str(tmp_path / "first.jsonl"), *flags),
        ],
        tmp_path,
        crash=step,
    )
    assert run.returncode == -signal.SIGKILL, (run.returncode, run.stderr)
    assert len(emulator.state.batches) == (1 if step == "after_create" else 0)

    resumed = _cli(["resume", "--poll-interval", "0.05", "--json", *flags], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    [job_id] = json.loads(resumed.stdout)["resumed"]
    assert len(emulator.state.batches) == 1, f"{name} {step}: a job was created twice"
    assert _uploads(emulator) == 1, f"{name} {step}: an unused upload was left behind"

    out = tmp_path / "results.jsonl"
    got = _cli(["results", job_id, "-o", str(out), *flags], tmp_path)
    assert got.returncode == 0, got.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["custom_id"] for r in lines) == ["q1", "q2", "q3", "q4"]
    assert {r["status"] for r in lines} == {"succeeded"}
