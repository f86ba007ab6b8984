"""A job larger than the provider's queue of enqueued tokens runs to completion, paced.

The OpenAI emulator (its own process) enforces an organisation's enqueued-token limit the way the
service does: a batch that would queue more tokens than the limit beside the batches already
running fails validation with ``token_limit_exceeded``. `batch-router run --shard` must create
such a batch again once room frees up (never failing the job, never running a request twice), and
with the limit declared in the configuration it must not be refused at all.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from batch_router_core.testing.harness import PROVIDER_ARGS, EmulatorProcess, cli

#: Each request: 400 characters of text, 104 tokens as both sides count them; three per shard.
TOKENS_PER_SHARD = 3 * 104


def _input(path: Path, n: int) -> list[str]:
    ids = [f"p-{i}" for i in range(n)]
    path.write_text(
        "".join(
            json.dumps({"custom_id": cid, "messages": [{"role": "user", "content": "x" * 400}]})
            + "\n"
            for cid in ids
        )
    )
    return ids


def _batches(emulator: EmulatorProcess) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        emulator.url + "/v1/batches?limit=100", headers={"Authorization": "Bearer emulator-key"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        data: list[dict[str, Any]] = json.loads(response.read())["data"]
    return data


def _queue_limit(emulator: EmulatorProcess, tokens: int) -> None:
    body = json.dumps({"max_enqueued_tokens": tokens}).encode()
    request = urllib.request.Request(emulator.url + "/_emulator/errors", data=body, method="POST")
    urllib.request.urlopen(request, timeout=5).read()


def _run(tmp_path: Path, emulator: EmulatorProcess) -> Any:
    args = ["run", "in.jsonl", "-p", "openai", *PROVIDER_ARGS["openai"], "--shard"]
    return cli([*args, "--poll-interval", "0.1", "-o", "out.jsonl"], tmp_path, emulator)


def _answered(tmp_path: Path) -> list[str]:
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    return sorted(
        json.loads(x)["custom_id"] for x in lines if json.loads(x)["status"] == "succeeded"
    )


def test_a_full_queue_is_waited_out_and_every_request_runs_once(tmp_path: Path) -> None:
    ids = _input(tmp_path / "in.jsonl", 12)  # four shards; the queue takes two at a time
    (tmp_path / "batch-router.yaml").write_text(
        "providers:\n  openai:\n    limits: {max_requests: 3}\n"
    )
    with EmulatorProcess("openai", speed=20.0) as emulator:
        _queue_limit(emulator, 2 * TOKENS_PER_SHARD + 10)
        proc = _run(tmp_path, emulator)
        assert proc.returncode == 0, proc.stderr
        assert "queue for gpt-4o-mini is full" in proc.stderr, proc.stderr
        batches = _batches(emulator)
    refused = [b for b in batches if b["status"] == "failed"]
    assert refused and all(
        e["code"] == "token_limit_exceeded" for b in refused for e in b["errors"]["data"]
    )
    completed = [b for b in batches if b["status"] == "completed"]
    assert len(completed) == 4, [b["status"] for b in batches]
    assert sum(b["request_counts"]["completed"] for b in completed) == 12
    assert _answered(tmp_path) == sorted(ids)


def test_a_declared_token_limit_paces_the_shards_without_a_refusal(tmp_path: Path) -> None:
    ids = _input(tmp_path / "in.jsonl", 12)
    limit = 2 * TOKENS_PER_SHARD + 10
    (tmp_path / "batch-router.yaml").write_text(
        "providers:\n  openai:\n    limits:\n"
        "      max_requests: 3\n"
        f"      max_enqueued_tokens: {{'gpt-4o-mini': {limit}}}\n"
    )
    with EmulatorProcess("openai", speed=20.0) as emulator:
        _queue_limit(emulator, limit)
        proc = _run(tmp_path, emulator)
        assert proc.returncode == 0, proc.stderr
        batches = _batches(emulator)
    assert [b["status"] for b in batches] == ["completed"] * 4, proc.stderr
    assert "is full" not in proc.stderr
    assert _answered(tmp_path) == sorted(ids)
