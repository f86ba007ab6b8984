"""Structured output on every hosted provider, through its official SDK and its emulator: a
Pydantic model as the schema, replies parsed into it; replies that miss the schema come back
errored, counted as errored, never as successes; what a provider cannot do is refused first."""

from __future__ import annotations

import typing
from pathlib import Path

import attrs
import orjson
import pydantic
import pytest

from batch_router_core import (
    BatchProviderRegistry,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation.answers import NONCONFORMING_MARKER
from batch_router_core.emulation.server import RunningServer
from batch_router_core.files import GeneratedFiles
from batch_router_core.formats.unified import result_from_data
from batch_router_core.jobs.outputs import INVALID_OUTPUT
from batch_router_core.jobs.router import BatchRouter
from batch_router_core.models.schema import OutputSchema, output_schema

from .conftest import HOSTED_MODELS as MODELS
from .conftest import emulated_router


class Item(pydantic.BaseModel):
    name: str
    quantity: int = pydantic.Field(ge=1, le=9)


class Verdict(pydantic.BaseModel):
    score: int
    label: typing.Literal["good", "bad", "unsure"]
    items: list[Item]
    note: str | None


def _batch(name: str, prompts: list[str]) -> InputBatch:
    return InputBatch(
        requests=[
            InputRequest(custom_id=f"r{i}", messages=[InputMessage.user(p)])
            for i, p in enumerate(prompts)
        ]
    ).with_params(
        InferenceParams(
            provider_id=name, model_id=MODELS[name], max_output_tokens=200, output_schema=Verdict
        )
    )


async def test_replies_come_back_parsed_into_the_model(
    tmp_path: Path, hosted: tuple[str, RunningServer]
) -> None:
    name, server = hosted
    router = emulated_router(tmp_path, name, server)
    prompts = ["Judge the red bicycle", "Judge the blue kettle", "Judge the green lamp"]
    [job_id] = await router.run_batches([_batch(name, prompts)])
    results = {r.custom_id: r async for r in router.get_results(job_id)}
    assert sorted(results) == ["r0", "r1", "r2"]
    for r in results.values():
        assert r.status is ResultStatus.SUCCEEDED, r.error
        verdict = r.parsed_as(Verdict)
        assert isinstance(verdict, Verdict) and verdict.items and 1 <= verdict.items[0].quantity
        assert r.parsed == orjson.loads(r.text or "")
    # Each reply answers its own request (the emulator echoes the prompt into strings).
    assert "red bicycle" in results["r0"].parsed["items"][0]["name"]
    # The local copy keeps the parsed value: results read back later are the same.
    again = {r.custom_id: r async for r in router.get_results(job_id)}
    assert again == results


async def test_replies_that_miss_the_schema_are_errored_and_counted(
    tmp_path: Path, hosted: tuple[str, RunningServer]
) -> None:
    name, server = hosted
    router = emulated_router(tmp_path, name, server)
    notices: list[str] = []
    router.on_notice = notices.append
    prompts = [f"Judge item {i} {NONCONFORMING_MARKER if i < 3 else ''}" for i in range(4)]
    [job_id] = await router.run_batches([_batch(name, prompts)])
    results = {r.custom_id: r async for r in router.get_results(job_id)}
    bad = [r for r in results.values() if r.status is ResultStatus.ERRORED]
    assert sorted(r.custom_id for r in bad) == ["r0", "r1", "r2"]
    for r in bad:
        assert r.error is not None and r.error.code == INVALID_OUTPUT
        assert "does not match the schema" in r.error.message and r.parsed is None
        assert r.text and "unexpected" in r.text  # the reply is kept for a person to read
    assert results["r3"].status is ResultStatus.SUCCEEDED
    status = await router.get_status(job_id)
    assert (status.request_counts.succeeded, status.request_counts.errored) == (1, 3)
    # Most rows failed their schema: said loudly, not only counted.
    assert any("3 of 4 replies do not conform" in n for n in notices), notices


def test_a_provider_without_structured_output_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    registry = BatchProviderRegistry(files=GeneratedFiles(tmp_path / ".br"))
    router = BatchRouter(registry, root=tmp_path / ".br")
    batch = InputBatch(
        requests=[InputRequest(custom_id="a", messages=[InputMessage.user("x")])]
    ).with_params(InferenceParams(provider_id="fake", model_id="m", output_schema=Verdict))
    with pytest.raises(ValidationError, match="does not declare structured output"):
        router.validate([batch])
    own = InputRequest(
        custom_id="b",
        messages=[InputMessage.user("x")],
        params=InferenceParams(output_schema={"type": "object"}),
    )
    per_request = InputBatch(requests=[own]).with_params(
        InferenceParams(provider_id="openai", model_id="gpt-4o-mini")
    )
    with pytest.raises(ValidationError, match="set on the batch, not per request") as info:
        router.validate([per_request])
    assert info.value.issues[0].custom_id == "b"


def test_schemas_come_from_dicts_pydantic_and_attrs_and_bad_ones_are_refused() -> None:
    @attrs.frozen
    class Point:
        x: int
        label: str | None
        tags: list[str]

    derived = output_schema(Point)
    assert derived is not None and derived.name == "Point"
    assert derived.schema["required"] == ["x", "label", "tags"]
    assert derived.schema["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    pyd = output_schema(Verdict)
    assert pyd is not None and pyd.schema["additionalProperties"] is False
    assert pyd.schema["$defs"]["Item"]["additionalProperties"] is False  # strict everywhere
    assert output_schema(pyd.schema) == OutputSchema(schema=pyd.schema)
    # A schema with a property called "schema" is a schema, not the stored form of one.
    odd = {"type": "object", "properties": {"schema": {"type": "string"}}, "schema": {"x": 1}}
    assert output_schema(odd) == OutputSchema(schema=odd)
    stored_form = {"schema": pyd.schema, "name": "Verdict"}
    assert output_schema(stored_form) == OutputSchema(schema=pyd.schema, name="Verdict")
    with pytest.raises(ValidationError, match="object schema"):
        output_schema({"type": "string"})
    with pytest.raises(ValidationError, match="not a valid JSON Schema"):
        output_schema({"type": "object", "properties": 3})
    with pytest.raises(ValidationError, match="JSON Schema dict, a Pydantic model"):
        output_schema(42)  # type: ignore[arg-type]
    stored = result_from_data(
        {
            "custom_id": "p",
            "status": "succeeded",
            "text": "{}",
            "parsed": {"x": 1, "label": None, "tags": []},
        }
    )
    assert stored.parsed_as(Point) == Point(x=1, label=None, tags=[])


def test_the_command_line_takes_a_schema_file_and_exits_8_on_replies_that_miss_it(
    tmp_path: Path,
) -> None:
    from batch_router_core.testing.harness import EmulatorProcess, cli

    schema = {
        "type": "object",
        "properties": {
            "sentiment": {"enum": ["positive", "negative", "neutral"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["sentiment", "confidence"],
        "additionalProperties": False,
    }
    (tmp_path / "schema.json").write_bytes(orjson.dumps(schema))
    lines = [
        {"custom_id": "a", "messages": [{"role": "user", "content": "I love this kettle"}]},
        {
            "custom_id": "b",
            "messages": [{"role": "user", "content": "Fine " + NONCONFORMING_MARKER}],
        },
    ]
    (tmp_path / "in.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    args = ["run", "in.jsonl", "-p", "anthropic", "-m", "claude-sonnet-4-5"]
    args += ["--max-output-tokens", "64", "--output-schema", "schema.json", "-o", "out.jsonl"]
    with EmulatorProcess("anthropic") as emulator:
        ran = cli([*args, "--poll-interval", "0.05"], tmp_path, emulator)
        (tmp_path / "bad.json").write_text("{nope")
        refused = cli([*args[:-4], "--output-schema", "bad.json"], tmp_path, emulator)
    assert ran.returncode == 8, ran.stderr  # some requests errored
    out = {
        r["custom_id"]: r
        for r in map(orjson.loads, (tmp_path / "out.jsonl").read_bytes().splitlines())
    }
    assert (
        out["a"]["status"] == "succeeded"
        and out["a"]["parsed"]["sentiment"] in schema["properties"]["sentiment"]["enum"]
    )
    assert out["b"]["status"] == "errored" and out["b"]["error"]["code"] == INVALID_OUTPUT
    assert refused.returncode == 2 and "bad.json is not JSON" in refused.stderr


async def test_answers_made_online_are_checked_as_batch_answers_are(
    hosted: tuple[str, RunningServer],
) -> None:
    name, server = hosted
    registry = BatchProviderRegistry()
    handle = registry.get(name, **dict(registry.get(name).emulator_options(server.url)))
    if not handle.implements("execute_now"):
        pytest.skip(f"{name} has no synchronous path")
    requests = [
        InputRequest(custom_id="ok", messages=[InputMessage.user("Judge the lamp")]),
        InputRequest(custom_id="bad", messages=[InputMessage.user(NONCONFORMING_MARKER)]),
    ]
    good, bad = await handle.execute_now(requests, _batch(name, ["x"]).params)  # type: ignore[arg-type]
    assert good.status is ResultStatus.SUCCEEDED and good.parsed_as(Verdict).items, good
    assert bad.status is ResultStatus.ERRORED and bad.error is not None
    assert bad.error.code == INVALID_OUTPUT
