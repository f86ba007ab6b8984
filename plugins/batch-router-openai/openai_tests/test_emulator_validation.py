"""The emulator validates input files like the service: the batch goes `failed` with errors.data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from batch_router_openai.emulator import OpenAIEmulator
from openai import BadRequestError, OpenAI

from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer


def line(cid: str, model: str = "gpt-4o-mini", url: str = "/v1/chat/completions") -> str:
    return json.dumps(
        {
            "custom_id": cid,
            "method": "POST",
            "url": url,
            "body": {"model": model, "messages": [{"role": "user", "content": "hi"}]},
        }
    )


@pytest.fixture
def client(server: RunningServer) -> Any:
    c = OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    yield c
    c.close()


def submit(client: Any, text: str, clock: ManualClock) -> Any:
    f = client.files.create(file=("in.jsonl", text.encode()), purpose="batch")
    b = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert b.status == "validating" and b.request_counts.total == 0
    clock.advance(10)
    return client.batches.retrieve(b.id)


@pytest.mark.parametrize(
    ("text", "code", "line_no"),
    [
        (line("a") + "\n{not json\n", "invalid_json_line", 2),
        (line("a") + "\n" + line("b", url="/v1/embeddings") + "\n", "mismatched_endpoint", 2),
        (line("a") + "\n" + line("a") + "\n", "duplicate_custom_id", 2),
        (line("a") + "\n" + line("b", model="gpt-4o") + "\n", "model_mismatch", 2),
        ("\n", "empty_file", None),
    ],
)
def test_invalid_input_files_fail_the_batch(
    client: Any, clock: ManualClock, text: str, code: str, line_no: int | None
) -> None:
    b = submit(client, text, clock)
    assert b.status == "failed" and b.failed_at is not None
    assert [(e.code, e.line) for e in b.errors.data][:1] == [(code, line_no)]


def test_too_many_requests_and_too_large(
    client: Any, clock: ManualClock, emulator: OpenAIEmulator
) -> None:
    emulator.state.max_requests = 3
    b = submit(client, "\n".join(line(f"r{i}") for i in range(4)) + "\n", clock)
    assert b.status == "failed" and b.errors.data[0].code == "too_many_tasks"
    emulator.state.max_file_bytes = 100
    b = submit(client, line("x") + "\n", clock)
    assert b.status == "failed" and b.errors.data[0].code == "file_too_large"


def test_upload_rules(client: Any) -> None:
    with pytest.raises(BadRequestError, match="Must be .jsonl"):
        client.files.create(file=("in.txt", b"{}"), purpose="batch")
    f = client.files.create(file=("in.jsonl", line("a").encode()), purpose="batch")
    assert client.files.retrieve(f.id).bytes == len(line("a"))
    assert client.files.content(f.id).content == line("a").encode()
    assert client.files.delete(f.id).deleted is True
    with pytest.raises(BadRequestError, match="completion_window"):
        g = client.files.create(file=("in.jsonl", line("a").encode()), purpose="batch")
        client.batches.create(
            input_file_id=g.id, endpoint="/v1/chat/completions", completion_window="48h"
        )  # type: ignore[arg-type]
