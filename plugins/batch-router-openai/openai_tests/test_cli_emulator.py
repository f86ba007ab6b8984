"""The command line against the OpenAI emulator: real subprocesses, real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "batch_router_core.cli"]
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_run_with_the_embedded_emulator(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    proc = subprocess.run(
        [
            *CLI,
            "run",
            str(EXAMPLES / "questions.jsonl"),
            "-p",
            "openai",
            "-m",
            "gpt-4o-mini",
            "--emulator",
            "-o",
            str(out),
            "--system",
            "Be brief.",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "completed" and summary["outcome"] == "succeeded"
    assert summary["counts"]["succeeded"] == summary["counts"]["total"] == 4
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["custom_id"] for r in results} == {"q1", "q2", "q3", "q4"}
    assert all(r["provider"] == "openai" and r["usage"]["total_tokens"] > 0 for r in results)
    generated = list((tmp_path / ".batch_router" / "generated" / "openai").glob("*_input.jsonl"))
    assert len(generated) == 1 and oct(generated[0].stat().st_mode & 0o777) == "0o600"
    assert "emulator-key" not in generated[0].read_text()  # no key in artifacts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_emulate_command_serves_the_unmodified_sdk(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [*CLI, "emulate", "openai", "--port", str(port), "--speed", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        from openai import OpenAI

        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="anything", max_retries=0)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.batches.list(limit=1)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        line = {
            "custom_id": "a",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        }
        path = tmp_path / "in.jsonl"
        path.write_text(json.dumps(line) + "\n")
        f = client.files.create(file=path.open("rb"), purpose="batch")
        batch = client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        for _ in range(100):
            batch = client.batches.retrieve(batch.id)
            if batch.status == "completed":
                break
            time.sleep(0.05)
        assert batch.status == "completed" and batch.output_file_id
        content = client.files.content(batch.output_file_id).text
        assert json.loads(content.splitlines()[0])["response"]["body"]["choices"][0]["message"][
            "content"
        ]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            *CLI,
            "run",
            str(EXAMPLES / "questions.jsonl"),
            "-p",
            "openai",
            "-m",
            "gpt-4o-mini",
            "--emulator",
            "-o",
            str(tmp_path / "r.jsonl"),
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(master)
    out = b"".join(chunks).decode(errors="replace")
    assert "results" in out and "4/4" in out and "[####" in out
