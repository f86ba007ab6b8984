"""Unified -> OpenAI lines: every conversion rule, and the lines validate against OpenAI's
schemas."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft4Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from batch_router_core import (
    AudioContent,
    BatchProviderRegistry,
    DocumentContent,
    ImageContent,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    TextContent,
    ValidationError,
)
from batch_router_core.errors import UnsupportedContentError

from .conftest import DATA, chat_batch

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
WAV = base64.b64encode(b"RIFF\x00\x00\x00\x00WAVEfmt ").decode()
PDF = base64.b64encode(b"%PDF-1.4 ...").decode()


@pytest.fixture
def provider(batch_router_registry: BatchProviderRegistry):  # type: ignore[no-untyped-def]
    return batch_router_registry.get("openai")


def lines(provider: Any, batch: InputBatch) -> list[dict[str, Any]]:
    provider.validate(batch)
    return [orjson.loads(x) for x in provider.prepare_payloads(batch).lines]


def _numeric_bounds(node: Any) -> Any:
    # YAML 1.1 reads bounds such as -9.223372036854776e18 (no dot) as strings; JSON Schema needs
    # numbers.
    if isinstance(node, dict):
        for key in ("minimum", "maximum"):
            if isinstance(node.get(key), str):
                node[key] = float(node[key])
        for value in node.values():
            _numeric_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _numeric_bounds(value)
    return node


@cache
def _python_spec() -> dict[str, Any]:
    return _numeric_bounds(json.loads((DATA / "specs" / "openai-python.fragment.json").read_text()))


@cache
def _line_spec() -> dict[str, Any]:
    return json.loads((DATA / "specs" / "openai-batch-lines.fragment.json").read_text())  # type: ignore[no-any-return]


def validate_body(body: dict[str, Any], schema_name: str) -> None:
    spec = _python_spec()
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:openai", resource)
    validator = Draft202012Validator(
        {"$ref": f"urn:openai#/components/schemas/{schema_name}"}, registry=registry
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, (
        f"{schema_name}: {[f'{list(e.path)}: {e.message[:200]}' for e in errors[:5]]}"
    )


def validate_line(line: dict[str, Any]) -> None:
    schema = _line_spec()["components"]["schemas"]["BatchRequestInput"]
    Draft4Validator(schema).validate(line)  # the envelope: custom_id, method, url


def test_chat_system_prompt_first_and_text_as_plain_string(provider) -> None:  # type: ignore[no-untyped-def]
    [line] = lines(
        provider,
        chat_batch(
            1,
            system_prompt="Be brief.",
            max_output_tokens=50,
            temperature=0.3,
            top_p=0.9,
            stop_sequences=["END"],
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            seed=42,
            provider_kwargs={"user": "u-1"},
        ),
    )
    assert line["url"] == "/v1/chat/completions" and line["method"] == "POST"
    body = line["body"]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 0 plus 0?"},
    ]
    assert body["max_tokens"] == 50 and body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["stop"] == ["END"] and body["presence_penalty"] == 0.5
    assert body["frequency_penalty"] == -0.5 and body["seed"] == 42 and body["user"] == "u-1"
    validate_line(line)
    validate_body(body, "CreateChatCompletionRequest")


def test_reasoning_models_take_max_completion_tokens(provider) -> None:  # type: ignore[no-untyped-def]
    [line] = lines(provider, chat_batch(1, model="o3-mini", max_output_tokens=100))
    assert line["body"]["max_completion_tokens"] == 100 and "max_tokens" not in line["body"]
    validate_body(line["body"], "CreateChatCompletionRequest")


def test_multimodal_chat_parts(provider) -> None:  # type: ignore[no-untyped-def]
    msg = InputMessage(
        role="user",
        contents=[
            TextContent(text="Describe these."),
            ImageContent(url="https://example.com/cat.jpg"),
            ImageContent(data=PNG, media_type="image/png"),
            AudioContent(data=WAV, media_type="audio/wav"),
            DocumentContent(data=PDF, media_type="application/pdf"),
        ],
    )
    batch = InputBatch(
        requests=[
            InputRequest(
                custom_id="mm",
                messages=[msg, InputMessage.assistant("Sure."), InputMessage.user("Go on.")],
            )
        ]
    ).with_params(
        InferenceParams(provider_id="openai", model_id="gpt-4o", system_prompt=["A", "B"])
    )
    [line] = lines(provider, batch)
    parts = line["body"]["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "Describe these."}
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    assert parts[2]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[3] == {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}}
    assert parts[4]["type"] == "file" and parts[4]["file"]["file_data"].startswith(
        "data:application/pdf"
    )
    assert line["body"]["messages"][0] == {"role": "system", "content": "A\n\nB"}
    validate_body(line["body"], "CreateChatCompletionRequest")


def test_responses_endpoint(provider) -> None:  # type: ignore[no-untyped-def]
    msg = InputMessage(
        role="user",
        contents=[
            TextContent(text="What is this?"),
            ImageContent(url="https://x/y.png"),
            DocumentContent(url="https://x/doc.pdf"),
        ],
    )
    batch = InputBatch(requests=[InputRequest(custom_id="r", messages=[msg])]).with_params(
        InferenceParams(
            provider_id="openai",
            model_id="gpt-4o",
            system_prompt="Be kind.",
            max_output_tokens=64,
            temperature=1.0,
            provider_kwargs={"endpoint": "responses"},
        )
    )
    [line] = lines(provider, batch)
    assert line["url"] == "/v1/responses"
    body = line["body"]
    assert body["instructions"] == "Be kind." and body["max_output_tokens"] == 64
    assert "endpoint" not in body
    assert body["input"][0]["content"][1] == {
        "type": "input_image",
        "image_url": "https://x/y.png",
        "detail": "auto",
    }
    assert body["input"][0]["content"][2] == {"type": "input_file", "file_url": "https://x/doc.pdf"}
    # (498c71d's line envelope predates /v1/responses, so only the body is checked here.)
    validate_body(body, "CreateResponse")


def test_embeddings_and_completions(provider) -> None:  # type: ignore[no-untyped-def]
    [emb] = lines(
        provider,
        chat_batch(1, model="text-embedding-3-small", mode="embedding", embedding_dimensions=256),
    )
    assert emb["url"] == "/v1/embeddings"
    assert emb["body"] == {
        "model": "text-embedding-3-small",
        "dimensions": 256,
        "encoding_format": "float",
        "input": "What is 0 plus 0?",
    }
    validate_line(emb)
    validate_body(emb["body"], "CreateEmbeddingRequest")
    [comp] = lines(
        provider,
        chat_batch(
            1,
            model="gpt-3.5-turbo-instruct",
            mode="completion",
            max_output_tokens=5,
            stop_sequences=["\n"],
        ),
    )
    assert comp["url"] == "/v1/completions" and comp["body"]["prompt"] == "What is 0 plus 0?"
    assert comp["body"]["max_tokens"] == 5
    validate_line(comp)
    validate_body(comp["body"], "CreateCompletionRequest")


def test_per_request_overrides_and_order(provider) -> None:  # type: ignore[no-untyped-def]
    base = chat_batch(3, max_output_tokens=10)
    reqs = list(base.requests)
    reqs[1] = InputRequest(
        custom_id="req-1",
        messages=reqs[1].messages,
        params=InferenceParams(max_output_tokens=999, temperature=0.0),
    )
    out = lines(provider, InputBatch(requests=reqs, params=base.params))
    assert [line["custom_id"] for line in out] == ["req-0", "req-1", "req-2"]
    assert out[1]["body"]["max_tokens"] == 999 and out[1]["body"]["temperature"] == 0.0
    assert out[0]["body"]["max_tokens"] == 10 and "temperature" not in out[0]["body"]


@pytest.mark.parametrize(
    ("batch", "message", "field"),
    [
        (lambda: chat_batch(1, top_k=5), "openai does not support top_k", "params.top_k"),
        (
            lambda: chat_batch(1, model="claude-3-opus"),
            "not supported by openai",
            "params.model_id",
        ),
        (
            lambda: chat_batch(1, stop_sequences=list("abcde")),
            "at most 4 stop sequences",
            "params.stop_sequences",
        ),
        (
            lambda: chat_batch(
                1, model="text-embedding-3-small", mode="embedding", temperature=0.5
            ),
            "does not apply to embeddings",
            "params.temperature",
        ),
        (
            lambda: chat_batch(1, provider_kwargs={"endpoint": "responses"}, stop_sequences=["x"]),
            "responses endpoint has no stop_sequences",
            "params.stop_sequences",
        ),
        (
            lambda: chat_batch(1, provider_kwargs={"endpoint": "/v1/videos"}),
            "unknown OpenAI endpoint",
            "params.provider_kwargs.endpoint",
        ),
    ],
)
def test_bad_params_are_refused(provider, batch, message: str, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message) as exc:
        lines(provider, batch())
    assert exc.value.field == field


def test_content_an_endpoint_cannot_take(provider) -> None:  # type: ignore[no-untyped-def]
    def one(*parts: Any, endpoint: str | None = None) -> InputBatch:
        kwargs = {"endpoint": endpoint} if endpoint else {}
        return InputBatch(
            requests=[
                InputRequest(
                    custom_id="c1",
                    messages=[InputMessage(role="user", contents=[TextContent(text="x"), *parts])],
                )
            ]
        ).with_params(
            InferenceParams(provider_id="openai", model_id="gpt-4o", provider_kwargs=kwargs)
        )

    cases = [
        (one(AudioContent(url="https://x/a.wav")), "audio_url content"),
        (one(AudioContent(data="ZmxhYw==", media_type="audio/flac")), "base64 WAV or MP3"),
        (one(DocumentContent(url="https://x/d.pdf")), "PDFs as base64 data"),
        (
            one(AudioContent(data=WAV, media_type="audio/wav"), endpoint="responses"),
            "does not take audio",
        ),
    ]
    for batch, message in cases:
        with pytest.raises(UnsupportedContentError, match=message) as exc:
            lines(provider, batch)
        assert exc.value.custom_id == "c1" and exc.value.field.startswith("messages[0].contents")


def test_shared_fixture_inputs_are_what_we_would_write(provider) -> None:  # type: ignore[no-untyped-def]
    # The first documented input line, rebuilt from unified objects, gives the same JSON.
    first = orjson.loads(
        (DATA / "fixtures" / "openai_batch_input.jsonl").read_bytes().splitlines()[0]
    )
    batch = InputBatch(
        requests=[InputRequest(custom_id="request-1", messages=[InputMessage.user("What is 2+2?")])]
    ).with_params(
        InferenceParams(
            provider_id="openai",
            model_id="gpt-4o-mini",
            system_prompt="You are a helpful assistant.",
        )
    )
    assert lines(provider, batch) == [first]


def test_importing_the_plugin_does_not_import_the_sdk(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, batch_router_openai.plugin\n"
        "from batch_router_core import BatchProviderRegistry\n"
        "BatchProviderRegistry(overrides={}).get('openai')\n"
        "print('openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("system", [None, "Be brief.", ("A", "B")])
def test_spliced_fast_path_writes_exactly_what_orjson_would(provider, system) -> None:  # type: ignore[no-untyped-def]
    texts = [
        "plain",
        'quotes " and \\ backslash',
        "newline\nand\ttab",
        "unicode: é 日本 🚀",
        "\x00\x1f",
        "",
    ]
    reqs = [
        InputRequest(
            custom_id=f'id-{i}-"{t[:3]}"',
            messages=[
                InputMessage.user(t)
                if t
                else InputMessage(role="user", contents=[TextContent(text="")])
            ],
        )
        for i, t in enumerate(texts)
    ]
    batch = InputBatch(requests=reqs).with_params(
        InferenceParams(
            provider_id="openai",
            model_id="gpt-4o-mini",
            system_prompt=system,
            max_output_tokens=7,
            temperature=0.5,
            provider_kwargs={"user": "u"},
        )
    )
    got = list(provider.prepare_payloads(batch).lines)
    body_base = {"model": "gpt-4o-mini", "max_tokens": 7, "temperature": 0.5, "user": "u"}
    sys_msgs = (
        []
        if system is None
        else [{"role": "system", "content": system if isinstance(system, str) else "A\n\nB"}]
    )
    expected = [
        orjson.dumps(
            {
                "custom_id": r.custom_id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {**body_base, "messages": [*sys_msgs, {"role": "user", "content": t}]},
            }
        )
        for r, t in zip(reqs, texts, strict=True)
    ]
    assert got == expected
