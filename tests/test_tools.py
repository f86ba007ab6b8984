"""Tools on every hosted provider, through its official SDK and its emulator: one tool
definition, calls back in one shape, and a second round that answers them batched as well."""

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
    Tool,
    ToolCallContent,
    ToolResultContent,
    ValidationError,
)
from batch_router_core.emulation.server import RunningServer
from batch_router_core.files import GeneratedFiles
from batch_router_core.jobs.router import BatchRouter
from batch_router_core.serialization import from_data, to_data

from .conftest import HOSTED_MODELS as MODELS
from .conftest import emulated_router

WEATHER = Tool(
    name="get_weather",
    description="The current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
)
CLOCK = Tool(name="get_time", description="The time in a city.", parameters={"type": "object"})


def _params(name: str, **more: object) -> InferenceParams:
    return InferenceParams(
        provider_id=name,
        model_id=MODELS[name],
        max_output_tokens=200,
        tools=(WEATHER, CLOCK),
        **more,  # type: ignore[arg-type]
    )


async def test_calls_come_back_alike_and_a_second_round_answers_them(
    tmp_path: Path, hosted: tuple[str, RunningServer]
) -> None:
    name, server = hosted
    router = emulated_router(tmp_path, name, server)
    asks = {"oslo": "What is the weather in Oslo?", "lima": "And in Lima?"}
    first = InputBatch(
        requests=[
            InputRequest(custom_id=k, messages=[InputMessage.user(v)]) for k, v in asks.items()
        ]
        + [
            InputRequest(
                custom_id="chat",
                messages=[InputMessage.user("Just say hi.")],
                params=InferenceParams(tool_choice="none"),
            ),
            InputRequest(
                custom_id="clock",
                messages=[InputMessage.user("What time is it in Oslo?")],
                params=InferenceParams(tool_choice="get_time"),
            ),
        ]
    ).with_params(_params(name))
    [job_id] = await router.run_batches([first])
    results = {r.custom_id: r async for r in router.get_results(job_id)}
    for key in asks:
        r = results[key]
        assert r.status is ResultStatus.SUCCEEDED and r.tool_calls, r
        [call] = r.tool_calls
        assert call.name == "get_weather" and call.id
        assert call.arguments is not None and call.arguments["unit"] in ("C", "F")
        assert isinstance(call.arguments["city"], str)
    assert results["chat"].tool_calls is None and results["chat"].text
    assert results["clock"].tool_calls and results["clock"].tool_calls[0].name == "get_time"
    # Results read back from the local copy carry the same calls.
    again = {r.custom_id: r async for r in router.get_results(job_id)}
    assert again["oslo"].tool_calls == results["oslo"].tool_calls

    # Round two: each conversation with the model's call and the tool's result, batched.
    second = []
    for key, text in asks.items():
        [call] = results[key].tool_calls or ()
        answer = orjson.dumps({"city": call.arguments and call.arguments["city"], "temp": 7})
        second.append(
            InputRequest(
                custom_id=f"{key}-2",
                messages=[
                    InputMessage.user(text),
                    InputMessage(
                        role="assistant",
                        contents=[
                            ToolCallContent(
                                id=call.id, name=call.name, arguments=call.arguments or {}
                            )
                        ],
                    ),
                    InputMessage(
                        role="user",
                        contents=[
                            ToolResultContent(
                                tool_call_id=call.id, name=call.name, content=answer.decode()
                            ),
                            TextContent(text="Answer in one sentence."),
                        ],
                    ),
                ],
            )
        )
    [job2] = await router.run_batches([InputBatch(requests=second).with_params(_params(name))])
    replies = {r.custom_id: r async for r in router.get_results(job2)}
    assert sorted(replies) == ["lima-2", "oslo-2"]
    for r in replies.values():
        assert r.status is ResultStatus.SUCCEEDED and r.tool_calls is None and r.text, r


def test_tools_round_trip_through_the_stored_form_and_bad_ones_are_refused(
    tmp_path: Path,
) -> None:
    params = _params("openai", tool_choice="get_weather")
    assert from_data(InferenceParams, to_data(params)) == params
    message = InputMessage(
        role="assistant", contents=[ToolCallContent(id="c1", name="get_weather", arguments={})]
    )
    assert from_data(InputMessage, to_data(message)) == message
    with pytest.raises(ValidationError, match="neither one of"):
        _params("openai", tool_choice="launch_rockets")
    with pytest.raises(ValidationError, match="tool name"):
        Tool(name="has space", parameters={"type": "object"})
    with pytest.raises(ValidationError, match="JSON Schema object"):
        Tool(name="t", parameters={"type": "string"})
    with pytest.raises(ValidationError, match="repeat"):
        InferenceParams(tools=[WEATHER, WEATHER])
    router = BatchRouter(BatchProviderRegistry(files=GeneratedFiles(tmp_path)), root=tmp_path)
    batch = InputBatch(
        requests=[InputRequest(custom_id="a", messages=[InputMessage.user("x")])]
    ).with_params(InferenceParams(provider_id="fake", model_id="m", tools=[WEATHER]))
    with pytest.raises(ValidationError, match="does not declare tools"):
        router.validate([batch])
