"""The result parser against every real OpenAI batch line in tests/data/fixtures."""

from __future__ import annotations

from pathlib import Path

import orjson

from batch_router_core import ResultStatus
from batch_router_core.formats.openai_batch.results import parse_line


def _lines(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines() if raw.strip()]


def test_every_output_line_parses_to_a_success(data: Path) -> None:
    lines = _lines(data / "fixtures" / "openai_batch_output.jsonl")
    assert lines
    for line in lines:
        r = parse_line(line)
        body = line["response"]["body"]
        assert r.custom_id == line["custom_id"] and r.status is ResultStatus.SUCCEEDED
        assert r.text == body["choices"][0]["message"]["content"]
        assert r.finish_reason == body["choices"][0]["finish_reason"]
        assert r.usage is not None and r.usage.total_tokens == body["usage"]["total_tokens"]
        assert r.usage.prompt_tokens == body["usage"]["prompt_tokens"]
        assert r.model == body["model"] and r.raw is line


def test_error_and_expired_lines(data: Path) -> None:
    by_id = {
        line["custom_id"]: parse_line(line)
        for line in _lines(data / "fixtures" / "openai_batch_errors.jsonl")
    }
    rejected = by_id["exp:t00010"]
    assert rejected.status is ResultStatus.ERRORED and rejected.error is not None
    assert rejected.error.status_code == 400 and rejected.error.code == "integer_below_min_value"
    assert rejected.error.type == "invalid_request_error"
    assert "max_output_tokens" in rejected.error.message
    expired = by_id["exp:t01000"]
    assert expired.status is ResultStatus.EXPIRED and expired.error is not None
    assert expired.error.code == "batch_expired"


def test_vllm_output_lines_share_the_format(data: Path) -> None:
    # vLLM's run-batch writes OpenAI-format lines: the same parser must read them.
    for name in ("vllm_batch_output.jsonl", "vllm_batch_output_cpu_run.jsonl"):
        for line in _lines(data / "fixtures" / name):
            r = parse_line(line)
            assert r.custom_id == line["custom_id"]
            resp = line.get("response") or {}
            if line.get("error") is None and resp.get("status_code", 200) == 200:
                assert r.status is ResultStatus.SUCCEEDED and r.raw is line
                if "choices" in str(line):
                    assert r.text and r.usage is not None
            else:
                assert r.status is ResultStatus.ERRORED


def test_responses_embeddings_and_completions_bodies() -> None:
    def line(body: dict) -> dict:  # type: ignore[type-arg]
        return {
            "id": "b",
            "custom_id": "x",
            "response": {"status_code": 200, "body": body},
            "error": None,
        }

    resp = parse_line(
        line(
            {
                "object": "response",
                "status": "completed",
                "model": "gpt-4o",
                "output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}],
                "usage": {
                    "input_tokens": 3,
                    "output_tokens": 1,
                    "total_tokens": 4,
                    "input_tokens_details": {"cached_tokens": 2},
                    "output_tokens_details": {"reasoning_tokens": 0},
                },
            }
        )
    )
    assert resp.text == "hi" and resp.finish_reason == "stop" and resp.usage.cached_tokens == 2  # type: ignore[union-attr]
    emb = parse_line(
        line(
            {
                "object": "list",
                "data": [{"embedding": [0.5, 0.25]}],
                "model": "e",
                "usage": {"prompt_tokens": 2, "total_tokens": 2},
            }
        )
    )
    assert emb.embedding == (0.5, 0.25) and emb.usage.completion_tokens == 0  # type: ignore[union-attr]
    comp = parse_line(
        line(
            {
                "object": "text_completion",
                "choices": [{"text": "t", "finish_reason": "length"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )
    )
    assert comp.text == "t" and comp.finish_reason == "length"
