"""The same unified input file runs unchanged on the OpenAI and Anthropic emulators, with results of
the same shape, through one router (and the CLI's crash recovery works for Anthropic too)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from batch_router_anthropic.emulator import create_app as anthropic_app

from batch_router_core import BatchProviderRegistry, InferenceParams, InputBatch, ResultStatus
from batch_router_core.emulation.server import serve_in_thread
from batch_router_core.files import GeneratedFiles
from batch_router_core.formats.unified import read_input
from batch_router_core.jobs.router import BatchRouter
from batch_router_core.retry import RetryPolicy

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
CLI = [sys.executable, "-m", "batch_router_core.cli"]


async def test_one_input_file_two_providers(tmp_path: Path) -> None:
    pytest.importorskip("batch_router_openai")
    from batch_router_openai.emulator import create_app as openai_app

    requests = tuple(read_input(EXAMPLES / "questions.jsonl"))
    with (
        serve_in_thread(openai_app({"speed": 100000})) as oa,
        serve_in_thread(anthropic_app({"speed": 100000})) as an,
    ):
        reg = BatchProviderRegistry(
            files=GeneratedFiles(tmp_path / ".br"), overrides={}, retry=RetryPolicy.no_wait()
        )
        router = BatchRouter(
            reg,
            root=tmp_path / ".br",
            initial_interval=0.02,
            max_interval=0.1,
            provider_options={
                "openai": {"base_url": oa.url + "/v1", "api_key": "k"},
                "anthropic": {"base_url": an.url, "api_key": "k"},
            },
        )
        batches = [
            InputBatch(requests=requests).with_params(
                InferenceParams(
                    provider_id=p, model_id=m, max_output_tokens=64, system_prompt="Be brief."
                )
            )
            for p, m in (("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"))
        ]
        # custom_ids must be unique across the batches of one run: run them as two runs
        ids = [await router.run_single_batch(b) for b in batches]
        by_provider = {}
        for job in ids:
            by_provider[job] = {r.custom_id: r async for r in router.get_results(job)}
    oa_res, an_res = by_provider[ids[0]], by_provider[ids[1]]
    assert set(oa_res) == set(an_res) == {"q1", "q2", "q3", "q4"}
    for cid in oa_res:
        a, b = oa_res[cid], an_res[cid]
        assert a.status is b.status is ResultStatus.SUCCEEDED
        assert a.text == b.text  # same emulated answer from the same prompt
        assert {a.provider, b.provider} == {"openai", "anthropic"}
        assert (
            a.usage is not None
            and b.usage is not None
            and a.usage.total_tokens > 0
            and b.usage.total_tokens > 0
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("step", ["after_intent", "after_create"])
def test_anthropic_crash_and_resume(step: str, tmp_path: Path) -> None:
    port = _free_port()
    emu = subprocess.Popen(
        [*CLI, "emulate", "anthropic", "--port", str(port), "--speed", "100000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/_emulator/stats", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
            "BATCH_ROUTER_RETRY_NO_WAIT": "1",
        }
        opts = ["--option", f"base_url={url}", "--option", "api_key=k"]
        run = subprocess.run(
            [
                *CLI,
                "run",
                str(EXAMPLES / "questions.jsonl"),
                "-p",
                "anthropic",
                "-m",
                "claude-sonnet-4-5",
                "--max-output-tokens",
                "50",
                "--poll-interval",
                "0.05",
                *opts,
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**env, "BATCH_ROUTER_CRASH_AT": step},
            timeout=120,
        )
        assert run.returncode == -signal.SIGKILL, run.stderr
        resumed = subprocess.run(
            [*CLI, "resume", "--poll-interval", "0.05", "--json", *opts],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        [job] = json.loads(resumed.stdout)["resumed"]
        stats = json.loads(urllib.request.urlopen(url + "/_emulator/stats").read())
        assert stats["batches"] == 1
        out = tmp_path / "r.jsonl"
        got = subprocess.run(
            [*CLI, "results", job, "-o", str(out), *opts],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )
        assert got.returncode == 0, got.stderr
        assert sorted(json.loads(line)["custom_id"] for line in out.read_text().splitlines()) == [
            "q1",
            "q2",
            "q3",
            "q4",
        ]
    finally:
        emu.terminate()
        emu.wait(10)
