"""Crash tests: the CLI is SIGKILLed at each step, then `batch-router resume` finishes the job.

Everything is real: the emulator runs in its own process (`batch-router emulate openai`), the CLI
runs as subprocesses, the ledger is a SQLite file. Each case asserts that the emulator saw exactly
one batch (nothing submitted twice) and that every custom_id appears exactly once in the results.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "batch_router_core.cli"]
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def emulator_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [*CLI, "emulate", "openai", "--port", str(port), "--speed", "100000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/_emulator/stats", timeout=1).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _cli(
    args: list[str], cwd: Path, url: str, crash: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["BATCH_ROUTER_RETRY_NO_WAIT"] = "1"
    if crash:
        env["BATCH_ROUTER_CRASH_AT"] = crash
    return subprocess.run(
        [*CLI, *args, "--option", f"base_url={url}/v1", "--option", "api_key=k"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def _batches(url: str) -> int:
    return int(json.loads(urllib.request.urlopen(url + "/_emulator/stats").read())["batches"])


def _input_uploads(url: str) -> int:
    request = urllib.request.Request(
        url + "/v1/files?purpose=batch", headers={"Authorization": "Bearer k"}
    )
    return len(json.loads(urllib.request.urlopen(request).read())["data"])


@pytest.mark.parametrize(
    "step", ["after_intent", "after_upload", "after_create", "polling", "download"]
)
def test_killed_run_is_resumed_without_duplicates(
    step: str, tmp_path: Path, emulator_url: str
) -> None:
    run = _cli(
        [
            "run",
            str(EXAMPLES / "questions.jsonl"),
            "-p",
            "openai",
            "-m",
            "gpt-4o-mini",
            "--poll-interval",
            "0.05",
            "-o",
            str(tmp_path / "first.jsonl"),
        ],
        tmp_path,
        emulator_url,
        crash=step,
    )
    assert run.returncode == -signal.SIGKILL, (run.returncode, run.stderr)
    assert not (tmp_path / "first.jsonl").exists()

    resumed = _cli(["resume", "--poll-interval", "0.05", "--json"], tmp_path, emulator_url)
    assert resumed.returncode == 0, resumed.stderr
    [job_id] = json.loads(resumed.stdout)["resumed"]
    assert _batches(emulator_url) == 1, f"{step}: a job was submitted twice"
    assert _input_uploads(emulator_url) == 1, f"{step}: an unused upload was left on the provider"

    out = tmp_path / "results.jsonl"
    got = _cli(["results", job_id, "-o", str(out)], tmp_path, emulator_url)
    assert got.returncode == 0, got.stderr
    ids = [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == ["q1", "q2", "q3", "q4"]
    assert all(json.loads(line)["status"] == "succeeded" for line in out.read_text().splitlines())
    leftovers = list((tmp_path / ".batch_router").rglob(".*.part"))
    assert leftovers == [], leftovers
    again = _cli(["resume", "--json"], tmp_path, emulator_url)
    assert json.loads(again.stdout)["resumed"] == [] and _batches(emulator_url) == 1
