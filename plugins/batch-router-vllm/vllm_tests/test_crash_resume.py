"""`batch-router run --provider vllm` SIGKILLed mid-submit, then `batch-router resume` finishes the
job.

Real processes throughout: the CLI, the job's supervisor (which outlives the killed CLI: it runs in
its own session) and vLLM. Each case checks that exactly one job was started and every request came
back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MODEL, kill_all_jobs

pytestmark = pytest.mark.vllm
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _cli(
    args: list[str], cwd: Path, cache: Path, crash: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCH_ROUTER_MODEL_CACHE": str(cache)}
    env.pop("BATCH_ROUTER_CRASH_AT", None)
    if crash:
        env["BATCH_ROUTER_CRASH_AT"] = crash
    return subprocess.run(
        [sys.executable, "-m", "batch_router_core.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.mark.parametrize("step", ["after_upload", "after_create"])
def test_a_killed_run_resumes_with_one_job(
    step: str, tmp_path: Path, model_cache: Path, smollm2_dir: Path
) -> None:
    try:
        run = _cli(
            [
                "run",
                str(EXAMPLES / "questions.jsonl"),
                "-p",
                "vllm",
                "-m",
                MODEL,
                "--max-output-tokens",
                "16",
                "-o",
                "first.jsonl",
            ],
            tmp_path,
            model_cache,
            crash=step,
        )
        assert run.returncode == -signal.SIGKILL, (run.returncode, run.stderr[-2000:])
        resumed = _cli(["resume", "--poll-interval", "1", "--json"], tmp_path, model_cache)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        [job_id] = json.loads(resumed.stdout)["resumed"]
        job_dirs = list((tmp_path / ".batch_router" / "generated" / "vllm" / "jobs").iterdir())
        assert len(job_dirs) == 1 and (job_dirs[0] / "exit.json").exists(), (
            job_dirs
        )  # started once, ended
        got = _cli(["results", job_id, "-o", "results.jsonl"], tmp_path, model_cache)
        assert got.returncode == 0, got.stderr[-2000:]
        results = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
        assert sorted(r["custom_id"] for r in results) == ["q1", "q2", "q3", "q4"]
        assert {r["status"] for r in results} == {"succeeded"}, results
    finally:
        kill_all_jobs(tmp_path / ".batch_router" / "generated" / "vllm" / "jobs")
