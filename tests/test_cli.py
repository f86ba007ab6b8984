"""The batch-router command line, run as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "batch_router_core.cli"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCH_ROUTER_RETRY_NO_WAIT": "1"}
    env.pop("BATCH_ROUTER_CONFIG", None)
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    p = tmp_path / "questions.jsonl"
    p.write_text(
        '{"custom_id": "q1", "messages": [{"role": "user", "content": "What is 2+2?"}]}\n'
        '{"custom_id": "q2", "messages": [{"role": "user", "contents": [{"type": "text", "text": '
        '"Hi"}]}]}\n'
    )
    return p


def test_console_script_is_installed() -> None:
    assert shutil.which("batch-router") or Path(sys.executable).with_name("batch-router").exists()


def test_providers_lists_the_fake(tmp_path: Path) -> None:
    proc = run(["providers"], tmp_path)
    assert proc.returncode == 0 and "batch-router-fake" in proc.stdout
    data = json.loads(run(["providers", "--json"], tmp_path).stdout)
    fake = next(p for p in data["providers"] if p["name"] == "fake")
    assert fake["capabilities"]["cancel"] is True and "chat" in fake["modes"]


def test_run_writes_unified_results(tmp_path: Path, questions: Path) -> None:
    out = tmp_path / "results.jsonl"
    proc = run(
        [
            "run",
            str(questions),
            "-p",
            "fake",
            "-m",
            "fake-1",
            "--poll-interval",
            "0.2",
            "-o",
            str(out),
            "--system",
            "be brief",
            "--json",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "completed" and summary["outcome"] == "succeeded"
    assert summary["counts"] == {
        "total": 2,
        "succeeded": 2,
        "errored": 0,
        "cancelled": 0,
        "expired": 0,
        "processing": 0,
    }
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["custom_id"] for r in results) == ["q1", "q2"]
    assert all(r["status"] == "succeeded" and r["text"].startswith("echo:") for r in results)
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_bad_input_exits_3_and_sends_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"custom_id": "ok", "messages": [{"role": "user", "content": "x"}]}\n'
        '{"custom_id": "q9", "messages": [{"role": "user", "content": "x"}], "params": {"top_p": '
        "5}}\n"
    )
    proc = run(["run", str(bad), "-p", "fake", "-m", "fake-1"], tmp_path)
    assert proc.returncode == 3
    assert f"{bad}:2, custom_id='q9', field 'params.top_p'" in proc.stderr
    assert not (tmp_path / ".batch_router").exists()
    proc = run(["prepare", str(bad), "-p", "fake", "-m", "fake-1", "--json"], tmp_path)
    issue = json.loads(proc.stdout)["issues"][0]
    assert proc.returncode == 3 and issue["line"] == 2 and issue["custom_id"] == "q9"


def test_unknown_provider_and_model(tmp_path: Path, questions: Path) -> None:
    proc = run(["run", str(questions), "-p", "nope", "-m", "x"], tmp_path)
    assert proc.returncode == 4 and "installed providers:" in proc.stderr
    proc = run(["prepare", str(questions), "-p", "fake", "-m", "gpt-4o"], tmp_path)
    assert proc.returncode == 3 and "model 'gpt-4o' is not supported by fake" in proc.stderr


def test_prepare_is_a_dry_run(tmp_path: Path, questions: Path) -> None:
    proc = run(["prepare", str(questions), "-p", "fake", "-m", "fake-1", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["requests"] == 2 and Path(tmp_path, info["path"]).exists()


def test_emulate_without_an_emulator(tmp_path: Path) -> None:
    proc = run(["emulate", "fake", "--port", "0"], tmp_path)
    assert proc.returncode == 4 and "ships no emulator" in proc.stderr


def test_openai_batch_files_run_on_other_providers(tmp_path: Path) -> None:
    src = tmp_path / "openai.jsonl"
    src.write_text(
        '{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
        '"gpt-4o",'
        ' "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi '
        'there"}],'
        ' "max_tokens": 5, "temperature": 0.2}}\n'
        '{"custom_id": "r2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
        '"gpt-4o",'
        ' "messages": [{"role": "user", "content": [{"type": "text", "text": "Look"}]}]}}\n'
    )
    out = tmp_path / "out.jsonl"
    proc = run(
        ["run", str(src), "-p", "fake", "-m", "fake-1", "--poll-interval", "0.1", "-o", str(out)],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    got = {json.loads(line)["custom_id"]: json.loads(line) for line in out.read_text().splitlines()}
    assert got["r1"]["text"] == "echo: Hi there" and got["r2"]["text"] == "echo: Look"
    prepared = json.loads(
        run(["prepare", str(src), "-p", "fake", "-m", "fake-1", "--json"], tmp_path).stdout
    )
    first = json.loads(Path(tmp_path, prepared["path"]).read_text().splitlines()[0])
    assert first["body"]["max_tokens"] == 5 and first["body"]["messages"][0] == {
        "role": "system",
        "content": "Be brief.",
    }
    odd = tmp_path / "odd.jsonl"
    odd.write_text(
        '{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
        '"m",'
        ' "messages": [{"role": "user", "content": "x"}], "logit_bias": {"1": 2}}}\n'
    )
    proc = run(["prepare", str(odd), "-p", "fake", "-m", "fake-1"], tmp_path)
    assert proc.returncode == 3 and "logit_bias" in proc.stderr and "odd.jsonl:1" in proc.stderr
    # A provider whose request lines are OpenAI batch lines (capabilities.wire_format) takes them.
    proc = run(["prepare", str(odd), "-p", "openai", "-m", "gpt-4o-mini", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = json.loads(Path(tmp_path, json.loads(proc.stdout)["path"]).read_text())
    assert line["body"]["logit_bias"] == {"1": 2}


def test_jobs_status_and_results_commands(tmp_path: Path, questions: Path) -> None:
    sub = run(["submit", str(questions), "-p", "fake", "-m", "fake-1", "--json"], tmp_path)
    assert sub.returncode == 0, sub.stderr
    job = json.loads(sub.stdout)["job_id"]
    listed = [json.loads(line) for line in run(["jobs", "--json"], tmp_path).stdout.splitlines()]
    assert [j["job_id"] for j in listed] == [job] and listed[0]["requests"] == 2
    # The fake provider lives in the submitting process: a new process cannot see its job.
    status = run(["status", job], tmp_path)
    assert status.returncode == 4 and "no such job" in status.stderr
