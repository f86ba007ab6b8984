"""Conversion to Message Batches requests (validated against Anthropic's schema) and result parsing
against every real line in tests/data/fixtures."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

import orjson
import pytest
from batch_router_anthropic.parse import parse_line
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from batch_router_core import (
    BatchProviderRegistry,
    DocumentContent,
    ImageContent,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ResultStatus,
    TextContent,
    ValidationError,
)

from .conftest import DATA, chat_batch


@pytest.fixture
def provider(batch_router_registry: BatchProviderRegistry):  # type: ignore[no-untyped-def]
    return batch_router_registry.get("anthropic")


def lines(provider: Any, batch: InputBatch) -> list[dict[str, Any]]:
    provider.validate(batch)
    return [orjson.loads(x) for x in provider.prepare_payloads(batch).lines]


@cache
def _validator() -> Draft202012Validator:
    spec = json.loads((DATA / "specs" / "anthropic.fragment.json").read_text())
    registry = Registry().with_resource(
        "urn:anthropic", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": "urn:anthropic#/components/schemas/MessageBatchIndividualRequestParams"},
        registry=registry,
    )


def validate(line: dict[str, Any]) -> None:
    errors = list(_validator().iter_errors(line))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]


def test_text_system_params_and_kwargs(provider) -> None:  # type: ignore[no-untyped-def]
    [line] = lines(
        provider,
        chat_batch(
            1,
            system_prompt="Be brief.",
            temperature=0.5,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END"],
            provider_kwargs={"metadata": {"user_id": "u1"}},
        ),
    )
    assert line == {
        "custom_id": "req-0",
        "params": {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "system": "Be brief.",
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u1"},
            "messages": [{"role": "user", "content": "What is 0 plus 0?"}],
        },
    }
    validate(line)


def test_multimodal_and_system_blocks(provider) -> None:  # type: ignore[no-untyped-def]
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    msg = InputMessage(
        role="user",
        contents=[
            TextContent(text="Compare"),
            ImageContent(data=png, media_type="image/png"),
            ImageContent(url="https://x/cat.jpg"),
            DocumentContent(data="JVBERi0=", media_type="application/pdf"),
            DocumentContent(url="https://x/doc.pdf"),
        ],
    )
    batch = InputBatch(
        requests=[
            InputRequest(
                custom_id="mm",
                messages=[msg, InputMessage.assistant("Sure"), InputMessage.user("Go on")],
            )
        ]
    ).with_params(
        InferenceParams(
            provider_id="anthropic",
            model_id="claude-sonnet-4-5",
            max_output_tokens=10,
            system_prompt=["one", "two"],
        )
    )
    [line] = lines(provider, batch)
    params = line["params"]
    assert params["system"] == [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    parts = params["messages"][0]["content"]
    assert parts[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": png},
    }
    assert parts[2] == {"type": "image", "source": {"type": "url", "url": "https://x/cat.jpg"}}
    assert parts[3]["type"] == "document" and parts[4]["source"] == {
        "type": "url",
        "url": "https://x/doc.pdf",
    }
    validate(line)


@pytest.mark.parametrize(
    ("kwargs", "message", "field"),
    [
        ({"max_output_tokens": None}, "requires max_output_tokens", "params.max_output_tokens"),
        ({"presence_penalty": 0.5}, "does not support presence_penalty", "params.presence_penalty"),
        ({"temperature": 1.5}, "temperature range is 0-1", "params.temperature"),
        ({"model": "gpt-4o"}, "not supported by anthropic", "params.model_id"),
    ],
)
def test_bad_params(provider, kwargs: dict, message: str, field: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    with pytest.raises(ValidationError, match=message) as exc:
        lines(provider, chat_batch(1, **kwargs))
    assert exc.value.field == field


def test_roles_and_custom_id_rules(provider) -> None:  # type: ignore[no-untyped-def]
    params = InferenceParams(
        provider_id="anthropic", model_id="claude-sonnet-4-5", max_output_tokens=5
    )
    bad_order = InputBatch(
        requests=[
            InputRequest(custom_id="a", messages=[InputMessage.user("x"), InputMessage.user("y")])
        ],
        params=params,
    )
    with pytest.raises(ValidationError, match="alternate") as exc:
        lines(provider, bad_order)
    assert exc.value.custom_id == "a" and exc.value.field == "messages[1].role"
    bad_id = InputBatch(
        requests=[InputRequest(custom_id="has space", messages=[InputMessage.user("x")])],
        params=params,
    )
    with pytest.raises(ValidationError, match="must match"):
        lines(provider, bad_id)


def test_default_max_tokens_from_config(batch_router_files) -> None:  # type: ignore[no-untyped-def]
    reg = BatchProviderRegistry(
        files=batch_router_files,
        overrides={"anthropic": {"settings": {"default_max_tokens": 1024}}},
    )
    [line] = lines(reg.get("anthropic"), chat_batch(1, max_output_tokens=None))
    assert line["params"]["max_tokens"] == 1024


def test_shared_request_fixtures_are_what_we_write(provider) -> None:  # type: ignore[no-untyped-def]
    for raw in (DATA / "fixtures" / "anthropic_batch_requests.jsonl").read_bytes().splitlines():
        expected = orjson.loads(raw)
        p = expected["params"]
        batch = InputBatch(
            requests=[
                InputRequest(
                    custom_id=expected["custom_id"],
                    messages=[InputMessage.user(p["messages"][0]["content"])],
                )
            ]
        ).with_params(
            InferenceParams(
                provider_id="anthropic", model_id=p["model"], max_output_tokens=p["max_tokens"]
            )
        )
        assert lines(provider, batch) == [expected]
        validate(expected)


def test_every_fixture_result_line_parses() -> None:
    rows = [
        orjson.loads(r)
        for r in (DATA / "fixtures" / "anthropic_batch_results.jsonl").read_bytes().splitlines()
        if r.strip()
    ]
    assert rows
    for row in rows:
        r = parse_line(row)
        assert r.custom_id == row["custom_id"] and r.raw is row
        if row["result"]["type"] == "succeeded":
            m = row["result"]["message"]
            u = m["usage"]
            assert r.status is ResultStatus.SUCCEEDED and r.text == m["content"][0]["text"]
            assert r.finish_reason == "end_turn" and r.model == m["model"]
            assert r.usage.completion_tokens == u["output_tokens"]  # type: ignore[union-attr]
            cached = u.get("cache_read_input_tokens")
            assert r.usage.cached_tokens == cached  # type: ignore[union-attr]
            assert r.usage.prompt_tokens == u["input_tokens"] + (cached or 0) + (
                u.get("cache_creation_input_tokens") or 0
            )  # type: ignore[union-attr]
        else:
            assert r.status is ResultStatus.ERRORED
            assert r.error.type == "invalid_request_error" and "max_tokens" in r.error.message  # type: ignore[union-attr]


def test_canceled_and_expired_lines() -> None:
    assert (
        parse_line({"custom_id": "a", "result": {"type": "canceled"}}).status
        is ResultStatus.CANCELLED
    )
    assert (
        parse_line({"custom_id": "b", "result": {"type": "expired"}}).status is ResultStatus.EXPIRED
    )


def _succeeded(cid: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """A results line of a succeeded request whose message holds ``blocks``."""
    message = {
        "model": "claude-sonnet-4-5",
        "content": blocks,
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 30},
    }
    return {"custom_id": cid, "result": {"type": "succeeded", "message": message}}


def test_a_message_of_many_blocks_keeps_its_text_in_order_and_every_tool_call() -> None:
    # What a reply with extended thinking and tools looks like: a thinking block (kept in raw
    # only), text around a tool call, then another call.
    blocks = [
        {"type": "thinking", "thinking": "The user wants the weather.", "signature": "c2ln"},
        {"type": "text", "text": "Let me check "},
        {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "東京"}},
        {"type": "text", "text": "both cities."},
        {"type": "tool_use", "id": "toolu_02", "name": "weather", "input": {}},
    ]
    r = parse_line(_succeeded("many", blocks))
    assert r.text == "Let me check both cities." and r.finish_reason == "tool_use"
    assert r.tool_calls is not None
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("toolu_01", "weather", {"city": "東京"}),
        ("toolu_02", "weather", {}),
    ]
    r = parse_line(_succeeded("call", blocks[2:3]))
    assert r.text == "" and r.tool_calls is not None and len(r.tool_calls) == 1
    r = parse_line(_succeeded("text", blocks[1:2]))
    assert r.text == "Let me check " and r.tool_calls is None
