"""Features asked of one part or one message: prompt-cache breakpoints and ``provider_kwargs``.

Each provider's line carries them in its own words (or, where a provider has no words for a
breakpoint, leaves the prompt as it is); they survive the unified JSONL round trip; they are
refused where they have nowhere to go; and the Anthropic emulator caches the marked prefix,
which comes back through the official SDK as cache-read and cache-write tokens.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from batch_router_core import (
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ResultStatus,
    TextContent,
    ValidationError,
)
from batch_router_core.emulation.server import serve_in_thread
from batch_router_core.formats.unified import request_from_data, request_line
from batch_router_core.serialization import to_data

from .conftest import HOSTED_MODELS, emulated_router

CONTEXT = "The shared reference text, repeated to make a long prefix. " * 300


def _request(cid: str = "r1") -> InputRequest:
    return InputRequest(
        custom_id=cid,
        messages=[
            InputMessage(
                role="user",
                contents=[
                    TextContent(text=CONTEXT, cache_breakpoint="1h"),
                    TextContent(text=f"Question {cid}?", provider_kwargs={"citations": "on"}),
                ],
                provider_kwargs={"name": "analyst"},
            )
        ],
    )


def _line(name: str, request: InputRequest, **params: object) -> dict:  # type: ignore[type-arg]
    batch = InputBatch(requests=[request]).with_params(
        InferenceParams(
            provider_id=name,
            model_id=HOSTED_MODELS[name],
            max_output_tokens=100,
            **params,  # type: ignore[arg-type]
        )
    )
    handle = BatchProviderRegistry().get(name)
    handle.validate(batch)
    [line] = list(handle.prepare_payloads(batch).lines)
    return orjson.loads(line)  # type: ignore[no-any-return]


def test_each_provider_carries_them_in_its_own_words() -> None:
    anthropic = _line("anthropic", _request())["params"]["messages"][0]
    assert anthropic["name"] == "analyst"
    assert anthropic["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert anthropic["content"][1] == {"type": "text", "text": "Question r1?", "citations": "on"}
    openai = _line("openai", _request())["body"]["messages"][0]
    assert openai["name"] == "analyst"
    # OpenAI caches prefixes by itself: the breakpoint has no wire form, the text is unchanged.
    assert openai["content"] == [
        {"type": "text", "text": CONTEXT},
        {"type": "text", "text": "Question r1?", "citations": "on"},
    ]
    google = _line("google", _request())["request"]["contents"][0]
    assert google["name"] == "analyst"
    assert google["parts"] == [{"text": CONTEXT}, {"text": "Question r1?", "citations": "on"}]


def test_a_lone_text_part_with_a_breakpoint_is_not_sent_as_a_plain_string() -> None:
    request = InputRequest(
        custom_id="one",
        messages=[
            InputMessage(role="user", contents=[TextContent(text="hi", cache_breakpoint="5m")])
        ],
    )
    [message] = _line("anthropic", request)["params"]["messages"]
    assert message["content"] == [
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
    ]


def test_they_survive_the_unified_jsonl_round_trip() -> None:
    request = _request()
    line = request_line(request)
    assert line == orjson.dumps(to_data(request))
    data = orjson.loads(line)
    assert data["messages"][0]["provider_kwargs"] == {"name": "analyst"}
    assert data["messages"][0]["contents"][0]["cache_breakpoint"] == "1h"
    assert request_from_data(data) == request


def test_what_has_nowhere_to_go_is_refused_with_the_field() -> None:
    with pytest.raises(ValidationError, match="cache_breakpoint is one of 5m, 1h"):
        TextContent(text="x", cache_breakpoint="forever")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="provider_kwargs is an object"):
        InputMessage(role="user", contents="x", provider_kwargs=["not", "a", "mapping"])  # type: ignore[arg-type]
    embedding = InputBatch(requests=[_request()]).with_params(
        InferenceParams(provider_id="openai", model_id="text-embedding-3-small", mode="embedding")
    )
    with pytest.raises(ValidationError) as info:
        BatchProviderRegistry().get("openai").validate(embedding)
    fields = [i.field for i in info.value.issues]
    assert fields == ["messages[0].provider_kwargs", "messages[0].contents[1].provider_kwargs"]
    assert all(i.custom_id == "r1" for i in info.value.issues)
    five = InputRequest(
        custom_id="five",
        messages=[
            InputMessage(
                role="user",
                contents=[TextContent(text=str(i), cache_breakpoint="5m") for i in range(5)],
            )
        ],
    )
    with pytest.raises(ValidationError, match="at most 4 cache breakpoints") as info:
        _line("anthropic", five)
    assert info.value.issues[0].custom_id == "five"


async def test_the_anthropic_emulator_caches_the_marked_prefix(tmp_path: Path) -> None:
    handle = BatchProviderRegistry().get("anthropic")
    server = serve_in_thread(handle.create_emulator({"speed": 100000.0}))
    try:
        router = emulated_router(tmp_path, "anthropic", server)
        batch = InputBatch(requests=[_request(f"r{i}") for i in range(3)]).with_params(
            InferenceParams(
                provider_id="anthropic", model_id=HOSTED_MODELS["anthropic"], max_output_tokens=50
            )
        )
        [job] = await router.run_batches([batch])
        results = {r.custom_id: r async for r in router.get_results(job)}
    finally:
        server.stop()
    assert all(r.status is ResultStatus.SUCCEEDED for r in results.values())
    usages = [results[f"r{i}"].usage for i in range(3)]
    written = [u.cache_creation_tokens if u else None for u in usages]
    read = [u.cached_tokens if u else None for u in usages]
    prompt = [u.prompt_tokens if u else 0 for u in usages]
    # One request writes the prefix (which one is the service's order), the others read it.
    prefix = max(w or 0 for w in written)
    assert prefix > 1024
    assert sorted(w or 0 for w in written) == [0, 0, prefix]
    assert sorted(r or 0 for r in read) == [0, prefix, prefix]
    # The prompt count includes the cached part, as on every provider.
    assert min(prompt) > prefix
