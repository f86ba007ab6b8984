"""The vocabulary: construction rules, validation messages and JSON round-trips."""

from __future__ import annotations

import base64
import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path

import attrs
import pytest

from batch_router_core import (
    AudioContent,
    BatchHandle,
    BatchMode,
    BatchStatus,
    BatchStatusReport,
    DocumentContent,
    ImageContent,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputMessageRole,
    InputRequest,
    ProviderId,
    ProviderInfo,
    RequestCounts,
    RequestError,
    RequestResult,
    ResultStatus,
    TextContent,
    UsageInfo,
    ValidationError,
)
from batch_router_core.models import Capabilities, ProviderLimits
from batch_router_core.models.tools import ToolCall, ToolCallContent, ToolResultContent
from batch_router_core.serialization import dumps, from_data, loads, to_data


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _wav() -> bytes:
    data = b"\x00\x00" * 8
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


# -- content parts ---------------------------------------------------------------------------------


def test_from_file_detects_media_type_from_bytes(tmp_path: Path) -> None:
    png = tmp_path / "picture.bin"  # the name says nothing: the bytes decide
    png.write_bytes(_png())
    img = ImageContent.from_file(png)
    assert img.media_type == "image/png"
    assert img.raw_bytes() == _png()
    wav = tmp_path / "a.wav"
    wav.write_bytes(_wav())
    assert AudioContent.from_file(wav).media_type == "audio/wav"
    assert AudioContent.from_file(wav).format == "wav"
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF")
    doc = DocumentContent.from_file(pdf)
    assert doc.media_type == "application/pdf" and doc.source_type == "base64"


def test_from_file_refuses_what_it_cannot_identify(tmp_path: Path) -> None:
    fake_png = tmp_path / "not-really.png"
    fake_png.write_bytes(b"hello, I am text")
    with pytest.raises(ValidationError, match="not-really.png is an unrecognised format"):
        ImageContent.from_file(fake_png)
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.7 ...")
    with pytest.raises(ValidationError, match="application/pdf; ImageContent accepts"):
        ImageContent.from_file(pdf)
    with pytest.raises(ValidationError, match="cannot read"):
        ImageContent.from_file(tmp_path / "missing.png")


def test_media_content_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        ImageContent()
    with pytest.raises(ValidationError, match="exactly one of"):
        ImageContent(data="aGk=", url="http://x/y.png", media_type="image/png")
    with pytest.raises(ValidationError, match="needs a `media_type`"):
        ImageContent(data="aGk=")
    with pytest.raises(ValidationError, match="must start with 'image/'"):
        ImageContent(data="aGk=", media_type="audio/wav")
    url = ImageContent(url="https://example.com/cat.jpg")
    assert url.source_type == "url" and url.data_url() == "https://example.com/cat.jpg"
    b64 = ImageContent(data=base64.b64encode(b"x").decode(), media_type="image/png")
    assert b64.data_url() == "data:image/png;base64,eA=="
    # Refused when built, not when first sent: bad input never reaches an upload.
    with pytest.raises(ValidationError, match="not valid base64"):
        ImageContent(data="!!!", media_type="image/png")
    with pytest.raises(ValidationError, match="'image/bmp' is not one batch-router can send"):
        ImageContent(data="aGk=", media_type="image/bmp")


def test_message_rules() -> None:
    m = InputMessage(role="user", contents="hello")
    assert m.role is InputMessageRole.USER and m.contents == (TextContent(text="hello"),)
    assert m.is_text_only and m.text == "hello"
    with pytest.raises(
        ValidationError, match="system prompt goes in InferenceParams.system_prompt"
    ):
        InputMessage(role="system", contents="x")
    with pytest.raises(ValidationError, match="at least one content part"):
        InputMessage(role="user", contents=[])
    with pytest.raises(ValidationError, match="expected a content part"):
        InputMessage(role="user", contents=[{"type": "text"}])  # type: ignore[list-item]


def test_request_and_batch_rules() -> None:
    with pytest.raises(ValidationError, match="custom_id must be a non-empty string"):
        InputRequest(custom_id="", messages=[InputMessage.user("x")])
    with pytest.raises(ValidationError, match="at least one message") as info:
        InputRequest(custom_id="a", messages=[])
    assert info.value.custom_id == "a" and info.value.field == "messages"
    batch = InputBatch(requests=[InputRequest(custom_id="a", messages=[InputMessage.user("x")])])
    with pytest.raises(ValidationError, match="no provider/model"):
        _ = batch.model
    with pytest.raises(ValidationError, match="with_params needs model_id"):
        batch.with_params(InferenceParams(provider_id=ProviderId.OPENAI))
    configured = batch.with_params(
        InferenceParams(provider_id=ProviderId.OPENAI, model_id="gpt-4o")
    )
    assert configured.provider == "openai" and configured.model == "gpt-4o"
    assert batch.params is None  # with_params copies


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", 2.5, "between 0 and 2"),
        ("temperature", -0.1, "between 0 and 2"),
        ("top_p", 1.5, "between 0 and 1"),
        ("top_k", 0, ">= 1"),
        ("max_output_tokens", 0, ">= 1"),
        ("max_output_tokens", 1.5, "an integer"),
        ("presence_penalty", 3, "between -2 and 2"),
        ("frequency_penalty", -2.5, "between -2 and 2"),
        ("temperature", True, "a number"),
        ("embedding_dimensions", 0, ">= 1"),
    ],
)
def test_params_ranges(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        InferenceParams(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field


def test_params_fields_and_merge() -> None:
    p = InferenceParams(
        provider_id="openai",
        model_id="gpt-4o",
        system_prompt=["a", "b"],
        max_output_tokens=10,
        temperature=0.5,
        top_p=0.9,
        top_k=5,
        stop_sequences="END",
        presence_penalty=0.1,
        frequency_penalty=-0.1,
        seed=7,
        provider_kwargs={"x": 1},
    )
    assert p.provider_id is ProviderId.OPENAI
    assert p.system_prompt == ("a", "b") and p.stop_sequences == ("END",)
    assert InferenceParams(provider_id="acme").provider_id == "acme"  # third-party provider
    merged = p.merged(InferenceParams(max_output_tokens=99, provider_kwargs={"y": 2}))
    assert merged.max_output_tokens == 99 and merged.temperature == 0.5
    assert merged.provider_kwargs == {"x": 1, "y": 2}
    assert p.merged(None) is p
    full = InferenceParams(
        provider_id="google",
        model_id="g",
        mode="embedding",
        system_prompt="s",
        max_output_tokens=3,
        temperature=1.0,
        top_p=0.1,
        top_k=2,
        stop_sequences=["x"],
        presence_penalty=1.0,
        frequency_penalty=1.0,
        seed=1,
        embedding_dimensions=8,
        provider_kwargs={"x": 2},
    )
    for a, b in ((p, full), (full, p), (p, InferenceParams()), (InferenceParams(), p)):
        # Field by field, as attrs.evolve (every check again) would build it; mode stays a's.
        changes = {f.name: getattr(b, f.name) for f in attrs.fields(InferenceParams)}
        changes = {k: v for k, v in changes.items() if v is not None and k != "mode"}
        changes["provider_kwargs"] = {**a.provider_kwargs, **b.provider_kwargs}
        assert a.merged(b) == attrs.evolve(a, **changes)
    with pytest.raises(ValidationError, match="stop sequences must be non-empty"):
        InferenceParams(stop_sequences=[""])
    with pytest.raises(ValidationError, match="mode must be one of"):
        InferenceParams(mode="video")


# -- JSON round-trips ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)

ROUND_TRIPS = [
    TextContent(text="hi"),
    ImageContent(url="https://x/y.png"),
    AudioContent(data="UklGRg==", media_type="audio/wav"),
    DocumentContent(data="JVBERi0=", media_type="application/pdf"),
    InputMessage(role="assistant", contents=[TextContent(text="a"), ImageContent(url="https://x")]),
    InferenceParams(
        provider_id="anthropic",
        model_id="claude",
        system_prompt=("x", "y"),
        top_k=3,
        stop_sequences=("a",),
        mode=BatchMode.EMBEDDING,
        provider_kwargs={"tools": [{"a": 1}]},
    ),
    InputRequest(
        custom_id="r", messages=[InputMessage.user("q")], params=InferenceParams(temperature=1.0)
    ),
    InputBatch(
        requests=[InputRequest(custom_id="r", messages=[InputMessage.user("q")])],
        params=InferenceParams(provider_id="openai", model_id="m"),
    ),
    UsageInfo(prompt_tokens=1, completion_tokens=2, total_tokens=3, cached_tokens=1),
    RequestResult(
        custom_id="r",
        status=ResultStatus.ERRORED,
        provider="p",
        error=RequestError(message="bad", code="c", status_code=400),
        raw={"k": [1]},
    ),
    RequestResult(
        custom_id="e",
        status=ResultStatus.SUCCEEDED,
        embedding=(0.5, 0.25),
        usage=UsageInfo(prompt_tokens=2, total_tokens=2),
    ),
    RequestCounts(total=5, succeeded=3, errored=1, expired=1),
    BatchStatusReport(
        provider="p",
        batch_id="b",
        status=BatchStatus.EXPIRED,
        raw_status="ended",
        request_counts=RequestCounts(total=2, expired=2),
        created_at=NOW,
        ended_at=NOW,
    ),
    BatchHandle(
        provider="p",
        batch_id="b",
        local_id="l",
        model="m",
        mode=BatchMode.CHAT,
        request_count=3,
        submitted_at=NOW,
        data={"file": "f"},
    ),
    ProviderInfo(
        name="p",
        models=("a-*",),
        limits=ProviderLimits(max_requests=5),
        capabilities=Capabilities(content={"chat": ["text", "image"]}),
        status_map={"ended": "completed"},
    ),
]


@pytest.mark.parametrize("obj", ROUND_TRIPS, ids=lambda o: type(o).__name__)
def test_every_type_round_trips_through_json(obj: object) -> None:
    assert loads(type(obj), dumps(obj)) == obj
    assert from_data(type(obj), to_data(obj)) == obj


def test_usage_adds_up() -> None:
    total = UsageInfo(prompt_tokens=1, completion_tokens=2, total_tokens=3) + UsageInfo(
        prompt_tokens=4, completion_tokens=5, total_tokens=9, cached_tokens=2
    )
    assert total == UsageInfo(
        prompt_tokens=5, completion_tokens=7, total_tokens=12, cached_tokens=2
    )


def test_status_order() -> None:
    assert BatchStatus.COMPLETED.is_terminal and not BatchStatus.CANCELLING.is_terminal
    assert BatchStatus.VALIDATING.rank < BatchStatus.IN_PROGRESS.rank < BatchStatus.COMPLETED.rank


def test_structuring_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        from_data(
            InputRequest,
            {
                "custom_id": "a",
                "messages": [{"role": "user", "content": "x"}],
                "params": {"temperature": 9},
            },
        )
    assert info.value.field == "params.temperature"
    with pytest.raises(ValidationError, match="unknown content type 'video'"):
        from_data(
            InputRequest,
            {"custom_id": "a", "messages": [{"role": "user", "contents": [{"type": "video"}]}]},
        )
    with pytest.raises(ValidationError, match=r"unknown field\(s\) \['foo'\]"):
        from_data(
            InputRequest,
            {"custom_id": "a", "foo": 1, "messages": [{"role": "user", "content": "x"}]},
        )
    with pytest.raises(ValidationError, match="required field is missing") as info:
        from_data(InputRequest, {"messages": [{"role": "user", "content": "x"}]})
    assert info.value.field == "custom_id"
    with pytest.raises(ValidationError, match="invalid JSON"):
        loads(InputRequest, b"{nope")


@pytest.mark.parametrize(
    "obj",
    [o for o in ROUND_TRIPS if isinstance(o, RequestResult)]
    + [
        RequestResult(
            custom_id="u",
            status=ResultStatus.SUCCEEDED,
            text="t",
            finish_reason="stop",
            usage=UsageInfo(
                prompt_tokens=1,
                completion_tokens=1,
                total_tokens=2,
                cached_tokens=0,
                cache_creation_tokens=3,
                reasoning_tokens=4,
            ),
        ),
        RequestResult(
            custom_id="x", status=ResultStatus.EXPIRED, error=RequestError(message="late")
        ),
        RequestResult(
            custom_id="p",
            status=ResultStatus.SUCCEEDED,
            text='{"score": 4, "tags": ["a"]}',
            parsed={"score": 4, "tags": ["a"]},
        ),
        RequestResult(
            custom_id="t",
            status=ResultStatus.SUCCEEDED,
            finish_reason="tool_calls",
            tool_calls=(
                ToolCall(id="c1", name="get_weather", arguments={"city": "Oslo"}),
                ToolCall(id="c2", name="lookup", arguments=None, arguments_text="{oops"),
            ),
        ),
    ],
    ids=lambda o: o.custom_id,
)
def test_fast_result_lines_match_the_converter(obj: RequestResult) -> None:
    import orjson

    from batch_router_core.formats.unified import result_from_data, result_line

    expected = to_data(obj)
    expected.pop("raw")
    assert orjson.loads(result_line(obj)) == expected
    assert result_from_data(orjson.loads(result_line(obj))) == attrs.evolve(obj, raw=None)


def test_fast_request_lines_match_the_converter() -> None:
    import orjson

    from batch_router_core.formats.unified import request_line

    for req in (
        InputRequest(custom_id="t", messages=[InputMessage.user("a"), InputMessage.assistant("b")]),
        InputRequest(
            custom_id="i",
            messages=[
                InputMessage(
                    role="user",
                    contents=[TextContent(text="see"), ImageContent(url="https://x/y.png")],
                )
            ],
            params=InferenceParams(temperature=0.5),
        ),
        InputRequest(
            custom_id="p",
            messages=[InputMessage.user("é 東京 🙂")],
            params=InferenceParams(
                provider_id="openai",
                model_id="m",
                mode="embedding",
                system_prompt=["one", "two"],
                max_output_tokens=7,
                temperature=0.0,
                stop_sequences="END",
                seed=-3,
            ),
        ),
        InputRequest(
            custom_id="k",
            messages=[InputMessage.user("x")],
            params=InferenceParams(system_prompt="s", provider_kwargs={"logprobs": True}),
        ),
        InputRequest(custom_id="d", messages=[InputMessage.user("x")], params=InferenceParams()),
        InputRequest(
            custom_id="tools",
            messages=[
                InputMessage.user("x"),
                InputMessage(
                    role="assistant",
                    contents=[ToolCallContent(id="c", name="f", arguments={"a": [1]})],
                ),
                InputMessage(
                    role="user",
                    contents=[ToolResultContent(tool_call_id="c", name="f", content="ok")],
                ),
            ],
            params=InferenceParams(
                tools=[{"name": "f", "parameters": {"type": "object"}}], tool_choice="f"
            ),
        ),
        InputRequest(
            custom_id="schema",
            messages=[InputMessage.user("x")],
            params=InferenceParams(output_schema={"type": "object"}),
        ),
    ):
        assert from_data(InputRequest, orjson.loads(request_line(req))) == req
        assert request_line(req) == orjson.dumps(to_data(req))


def test_fast_constructors_equal_the_regular_ones_and_cover_every_field() -> None:
    import attrs

    from batch_router_core.models import (
        RequestError,
        RequestResult,
        ResultStatus,
        UsageInfo,
        new_result,
        new_usage,
    )

    usage = new_usage(3, 4, 7, 1, None, 2)
    assert usage == UsageInfo(
        prompt_tokens=3, completion_tokens=4, total_tokens=7, cached_tokens=1, reasoning_tokens=2
    )
    error = RequestError(message="no")
    fast = new_result("a", ResultStatus.ERRORED, "p", "m", None, None, None, usage, error, {"x": 1})
    slow = RequestResult(
        custom_id="a",
        status=ResultStatus.ERRORED,
        provider="p",
        model="m",
        usage=usage,
        error=error,
        raw={"x": 1},
    )
    assert fast == slow
    # every declared field is present on the fast object (a field added later gets its default)
    for cls, obj in ((UsageInfo, usage), (RequestResult, fast)):
        assert set(vars(obj)) == {f.name for f in attrs.fields(cls)}


@pytest.mark.parametrize(
    "data",
    [
        {"custom_id": "r-1", "messages": [{"role": "user", "content": "hello"}]},
        {
            "custom_id": "r-2",
            "messages": [
                {"role": "user", "contents": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "naïve 東京 🙂"},
            ],
            "params": {"max_output_tokens": 5, "system_prompt": "s", "provider_kwargs": {"a": 1}},
        },
        {
            "custom_id": "r-3",
            "messages": [{"role": "user", "contents": [{"type": "text", "text": "x"}]}],
        },
        {"custom_id": "", "messages": [{"role": "user", "content": "x"}]},
        {"custom_id": "r-4", "messages": []},
        {"custom_id": "r-5", "messages": [{"role": "system", "content": "x"}]},
        {
            "custom_id": "r-6",
            "messages": [{"role": "user", "content": "x"}],
            "params": {"top_p": 5},
        },
        {"custom_id": 7, "messages": [{"role": "user", "content": "x"}]},
        {"custom_id": "r-8", "messages": [{"role": "user", "content": 3}]},
        {"custom_id": "r-9", "messages": [{"role": "user", "content": "x"}], "extra": 1},
        {
            "custom_id": "r-10",
            "messages": [{"role": "user", "content": "x"}],
            "params": {"temperature": 1, "seed": 3, "top_k": 2},
        },
        {
            "custom_id": "r-11",
            "messages": [{"role": "user", "content": "x"}],
            "params": {"max_output_tokens": "9"},
        },
        {
            "custom_id": "r-12",
            "messages": [{"role": "user", "content": "x"}],
            "params": {"seed": 1 << 70},
        },
        {
            "custom_id": "r-13",
            "messages": [{"role": "user", "content": "x"}],
            "params": {"temperature": True},
        },
        {
            "custom_id": "r-14",
            "messages": [{"role": "user", "content": "x"}],
            "params": {"stop_sequences": ["a"], "system_prompt": ["a", "b"]},
        },
        {
            "custom_id": "r-15",
            "messages": [{"role": "user", "content": "x"}],
            "params": {"max_output_tokens": 0},
        },
    ],
)
def test_the_fast_request_reader_builds_and_refuses_exactly_what_the_converter_does(
    data: dict[str, object],
) -> None:
    """``request_from_data`` skips the converter for the common shape; it must build equal
    requests and refuse with the same errors, whatever the line."""
    from batch_router_core.formats.unified import request_from_data
    from batch_router_core.serialization import from_data

    outcomes = []
    for read in (request_from_data, lambda d: from_data(InputRequest, d)):
        try:
            outcomes.append(repr(read(data)))
        except ValidationError as exc:
            outcomes.append(f"error: {exc}")
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"system_prompt": "Be brief.", "max_output_tokens": 64, "temperature": 0.2},
        {"top_p": 1.0, "top_k": 5, "seed": -3, "presence_penalty": -2.0, "frequency_penalty": 2.0},
        {"temperature": 2.5},  # out of range: the constructor's error
        {"temperature": float("nan")},
        {"max_output_tokens": 0},
        {"max_output_tokens": True},
        {"temperature": 1},  # an int: the constructor's rules, not the fast path's
        {"stop_sequences": ["x"]},
        {"system_prompt": ["a", "b"]},
    ],
)
def test_the_fast_settings_constructor_equals_the_checked_one(values: dict[str, object]) -> None:
    from batch_router_core.models.params import new_params

    try:
        expected = InferenceParams(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        with pytest.raises(ValidationError) as err:
            new_params(dict(values))
        assert str(err.value) == str(exc)
        return
    got = new_params(dict(values))
    assert got == expected and type(got) is InferenceParams
    assert got.provider_kwargs == {} and got.provider_kwargs is not new_params({}).provider_kwargs
