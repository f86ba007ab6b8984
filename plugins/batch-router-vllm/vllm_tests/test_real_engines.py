"""Both engines for real: vLLM on the CPU serving SmolLM2-135M-Instruct, in tracked processes.

No mocks: each test starts real vLLM processes through the plugin and reads what they wrote.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import orjson
import pytest
from batch_router_vllm import jobs
from batch_router_vllm.runner import group_members

from batch_router_core import BatchProviderRegistry, BatchStatus, ResultStatus
from batch_router_core.models.provider import PreparedBatch
from batch_router_core.registry.handle import ProviderHandle

from .conftest import MODEL, questions, wait_until_ended

pytestmark = pytest.mark.vllm


def _with_unknown_model_line(prepared: PreparedBatch, index: int) -> PreparedBatch:
    """Rewrite one prepared line to name a model the job does not serve."""
    lines = prepared.path.read_bytes().splitlines()
    line = orjson.loads(lines[index])
    line["body"]["model"] = "no-such-model"
    lines[index] = orjson.dumps(line)
    prepared.path.write_bytes(b"\n".join(lines) + b"\n")
    return prepared


@pytest.mark.parametrize("engine", ["run_batch", "offline"])
async def test_chat_batch_end_to_end_with_real_answers(
    engine: str, vllm_registry: BatchProviderRegistry, model_cache: Path, smollm2_dir: Path
) -> None:
    """prepare -> submit -> poll -> fetch; a line naming an unknown model fails alone, with vLLM's
    reason."""
    provider = vllm_registry.get("vllm", engine=engine, model_cache=str(model_cache))
    batch = questions(4)
    prepared = _with_unknown_model_line(provider.prepare(batch), 3)
    handle = await provider.submit(prepared)
    assert handle.data["engine"] == engine
    reports = await wait_until_ended(provider, handle)
    statuses = [r.status for r in reports]
    assert statuses[0] in (BatchStatus.VALIDATING, BatchStatus.IN_PROGRESS), statuses
    assert [s.rank for s in statuses] == sorted(s.rank for s in statuses), (
        statuses
    )  # never backwards
    end = reports[-1]
    assert end.status is BatchStatus.COMPLETED, end
    assert (
        end.request_counts.total == 4
        and end.request_counts.succeeded == 3
        and end.request_counts.errored == 1
    )
    results = {r.custom_id: r async for r in provider.fetch_results(handle)}
    assert sorted(results) == ["q-0", "q-1", "q-2", "q-3"]
    answers = [results[f"q-{i}"] for i in range(3)]
    for r in answers:
        assert r.status is ResultStatus.SUCCEEDED and r.provider == "vllm", r
        assert r.text and r.text.strip(), r
        assert r.usage is not None and r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0
    # A real model: different questions, different answers (a stub would echo or repeat one).
    assert len({r.text for r in answers}) == 3, [r.text for r in answers]
    job_dir = Path(handle.data["job_dir"])
    loose = [p for p in job_dir.rglob("*") if p.stat().st_mode & 0o077]
    assert not loose and job_dir.stat().st_mode & 0o777 == 0o700, (
        loose
    )  # generated files: this user only
    bad = results["q-3"]
    assert bad.status is ResultStatus.ERRORED and bad.error is not None
    assert "no-such-model" in bad.error.message and bad.error.status_code == 404, bad.error


async def test_cancel_terminates_the_process_group(vllm_provider: ProviderHandle) -> None:
    """Cancel while the engine runs: CANCELLING then CANCELLED, every process of the job gone."""
    handle = await vllm_provider.submit(vllm_provider.prepare(questions(48, max_output_tokens=512)))
    runner = jobs.read_runner(Path(handle.data["job_dir"]))
    assert runner is not None
    import asyncio

    running = None
    for _ in range(120):  # until the model is loaded and requests are being served
        running = await vllm_provider.poll_status(handle)
        if running.status is BatchStatus.IN_PROGRESS:
            break
        await asyncio.sleep(1)
    assert running is not None and running.status is BatchStatus.IN_PROGRESS, running
    counts = running.request_counts  # from vLLM's own progress line
    assert (
        counts.total == 48
        and counts.processing == 48 - running.raw["done"]
        and counts.processing > 0
    ), counts
    report = await vllm_provider.cancel(handle)
    assert report.status in (BatchStatus.CANCELLING, BatchStatus.CANCELLED), report
    reports = await wait_until_ended(vllm_provider, handle, timeout=60)
    assert reports[-1].status is BatchStatus.CANCELLED, reports[-1]
    assert group_members(int(runner["pid"])) == []  # no process of the job is left running
    results = [r async for r in vllm_provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == sorted(f"q-{i}" for i in range(48))
    assert {r.status for r in results} <= {ResultStatus.CANCELLED, ResultStatus.SUCCEEDED}


async def test_a_bad_engine_argument_is_failed_with_the_reason(
    vllm_registry: BatchProviderRegistry, model_cache: Path, smollm2_dir: Path
) -> None:
    provider = vllm_registry.get(
        "vllm", model_cache=str(model_cache), engine_args={"max_model_len": "many"}
    )
    handle = await provider.submit(provider.prepare(questions(2)))
    end = (await wait_until_ended(provider, handle, timeout=300))[-1]
    assert end.status is BatchStatus.FAILED, end
    assert end.error and "max-model-len" in end.error and "exit status 2" in end.error, end.error
    results = [r async for r in provider.fetch_results(handle)]
    assert {r.status for r in results} == {ResultStatus.ERRORED} and len(results) == 2
    assert results[0].error is not None and "max-model-len" in results[0].error.message


@pytest.mark.parametrize("engine", ["run_batch", "offline"])
async def test_an_unknown_model_crashes_the_job_and_is_failed(
    engine: str, vllm_registry: BatchProviderRegistry, tmp_path: Path, smollm2_dir: Path
) -> None:
    provider = vllm_registry.get("vllm", engine=engine, model_path=str(tmp_path / "no-model-here"))
    handle = await provider.submit(provider.prepare(questions(2)))
    end = (await wait_until_ended(provider, handle, timeout=300))[-1]
    assert end.status is BatchStatus.FAILED, end
    assert end.error and "no-model-here" in end.error, end.error


async def test_a_job_whose_process_died_is_failed_not_stuck(vllm_provider: ProviderHandle) -> None:
    handle = await vllm_provider.submit(vllm_provider.prepare(questions(2)))
    runner = jobs.read_runner(Path(handle.data["job_dir"]))
    assert runner is not None
    os.killpg(
        int(runner["pid"]), signal.SIGKILL
    )  # the machine's OOM killer, say: no exit status written
    end = (await wait_until_ended(vllm_provider, handle, timeout=30))[-1]
    assert end.status is BatchStatus.FAILED, end
    assert end.error and "died without recording an exit status" in end.error


async def test_find_job_after_a_crash_and_poll_from_another_registry(
    vllm_provider: ProviderHandle, vllm_registry: BatchProviderRegistry
) -> None:
    prepared = vllm_provider.prepare(questions(2))
    handle = await vllm_provider.submit(prepared)
    other = BatchProviderRegistry(files=vllm_registry.files, overrides={}).get("vllm")
    found = await other.find_job(prepared.local_id, prepared.request_count)
    assert (
        found is not None
        and found.batch_id == handle.batch_id
        and found.data["job_dir"] == handle.data["job_dir"]
    )
    assert (await other.poll_status(found)).status in (
        BatchStatus.VALIDATING,
        BatchStatus.IN_PROGRESS,
    )
    await other.cancel(found)
    assert (await wait_until_ended(other, found, timeout=60))[-1].status is BatchStatus.CANCELLED


def test_model_is_the_converted_builtin(smollm2_dir: Path) -> None:
    config = orjson.loads((smollm2_dir / "config.json").read_bytes())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 30
    assert (smollm2_dir / "model.safetensors").stat().st_size > 200_000_000
    assert MODEL in str(smollm2_dir)


def test_the_readme_main_job_runs_real_local_inference(
    tmp_path: Path, model_cache: Path, smollm2_dir: Path
) -> None:
    """The README's main job: `batch-router run` through vLLM, generated files relative to the
    cwd."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    cli = Path(sys.executable).with_name("batch-router")
    proc = subprocess.run(
        [
            str(cli),
            "run",
            str(root / "examples" / "questions.jsonl"),
            "--provider",
            "vllm",
            "--model",
            MODEL,
            "--system",
            "Be brief.",
            "--temperature",
            "0",
            "--max-output-tokens",
            "32",
            "-o",
            "results.jsonl",
            "--show",
            "10",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BATCH_ROUTER_MODEL_CACHE": str(model_cache)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "completed" in proc.stderr and "4/4 done" in proc.stderr, proc.stderr[-3000:]
    assert ": succeeded (completed) 4/4 done" in proc.stderr, proc.stderr[-3000:]
    results = [orjson.loads(x) for x in (tmp_path / "results.jsonl").read_bytes().splitlines()]
    assert [r["status"] for r in results] == ["succeeded"] * 4
    shown = proc.stdout.splitlines()
    assert [line.split(":")[0] for line in shown] == ["q1", "q2", "q3", "q4"]
    assert all(len(line.split(":", 1)[1].strip()) > 0 for line in shown), shown


async def test_a_schema_constrained_batch_answers_conforming_json(
    vllm_registry: BatchProviderRegistry, model_cache: Path, smollm2_dir: Path
) -> None:
    """Structured output on the CPU model: decoding constrained to the schema, so even a 135M
    model answers JSON of that shape, checked here the way the router checks every answer, and
    read back as instances of the Pydantic model the schema came from.

    On the offline engine; the conformance suite runs a schema on run_batch (the default)."""
    engine = "offline"
    from pydantic import BaseModel, Field

    from batch_router_core.jobs.outputs import OutputCheck
    from batch_router_core.models.schema import output_schema

    class Reply(BaseModel):
        answer: str = Field(max_length=20)
        sure: bool

    schema = output_schema(Reply)
    provider = vllm_registry.get("vllm", engine=engine, model_cache=str(model_cache))
    batch = questions(3, max_output_tokens=48, output_schema=schema)
    handle = await provider.submit(provider.prepare(batch))
    end = (await wait_until_ended(provider, handle))[-1]
    assert end.status is BatchStatus.COMPLETED, end.error
    results = [r async for r in provider.fetch_results(handle)]
    assert schema is not None
    check = OutputCheck(schema)
    checked = [check.result(r) for r in results]
    assert check.checked == 3 and check.invalid == 0, [(r.text, r.error) for r in checked]
    replies = [r.parsed_as(Reply) for r in checked]
    assert all(isinstance(r, Reply) and len(r.answer) <= 20 for r in replies), replies


@pytest.mark.parametrize("engine", ["run_batch", "offline"])
async def test_a_forced_tool_call_round_trips(
    engine: str, vllm_registry: BatchProviderRegistry, model_cache: Path, smollm2_dir: Path
) -> None:
    """Tools on the CPU model: a forced choice constrains decoding to the tool's parameters, so the
    135M model calls it with arguments of that shape; a second batch carries the call and the
    tool's result back and is answered in text."""
    from batch_router_core import (
        InferenceParams,
        InputBatch,
        InputMessage,
        InputRequest,
        Tool,
        ToolCallContent,
        ToolResultContent,
    )

    weather = Tool(
        name="get_weather",
        description="The current weather in a city.",
        parameters={
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 20},
                "unit": {"enum": ["C", "F"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    )
    provider = vllm_registry.get("vllm", engine=engine, model_cache=str(model_cache))
    asks = {"oslo": "What is the weather in Oslo?", "lima": "What is the weather in Lima?"}
    first = InputBatch(
        requests=[
            InputRequest(custom_id=k, messages=[InputMessage.user(q)]) for k, q in asks.items()
        ],
        params=InferenceParams(
            provider_id="vllm",
            model_id=MODEL,
            max_output_tokens=48,
            temperature=0.0,
            tools=(weather,),
            tool_choice="get_weather",
        ),
    )
    handle = await provider.submit(provider.prepare(first))
    end = (await wait_until_ended(provider, handle))[-1]
    assert end.status is BatchStatus.COMPLETED, end.error
    results = {r.custom_id: r async for r in provider.fetch_results(handle)}
    follow_ups = []
    for key, result in results.items():
        assert result.status is ResultStatus.SUCCEEDED, result.error
        [call] = result.tool_calls or ()
        assert call.name == "get_weather" and call.arguments is not None, result
        assert set(call.arguments) == {"city", "unit"} and call.arguments["unit"] in ("C", "F")
        follow_ups.append(
            InputRequest(
                custom_id=f"{key}-answer",
                messages=[
                    InputMessage.user(asks[key]),
                    InputMessage(
                        role="assistant",
                        contents=[
                            ToolCallContent(id=call.id, name=call.name, arguments=call.arguments)
                        ],
                    ),
                    InputMessage(
                        role="user",
                        contents=[
                            ToolResultContent(
                                tool_call_id=call.id, name=call.name, content='{"celsius": 7}'
                            )
                        ],
                    ),
                ],
            )
        )
    second = InputBatch(
        requests=follow_ups,
        params=InferenceParams(
            provider_id="vllm", model_id=MODEL, max_output_tokens=24, temperature=0.0
        ),
    )
    handle = await provider.submit(provider.prepare(second))
    end = (await wait_until_ended(provider, handle))[-1]
    assert end.status is BatchStatus.COMPLETED, end.error
    answers = [r async for r in provider.fetch_results(handle)]
    assert len(answers) == 2
    assert all(r.status is ResultStatus.SUCCEEDED and r.text for r in answers), answers


def test_tools_without_a_forced_choice_are_refused_before_a_job_starts(
    vllm_registry: BatchProviderRegistry,
) -> None:
    from batch_router_core import InferenceParams, Tool, ValidationError

    batch = questions(1).with_params(
        InferenceParams(provider_id="vllm", model_id=MODEL, tools=(Tool(name="lookup"),))
    )
    with pytest.raises(ValidationError, match="forced choice") as info:
        vllm_registry.get("vllm").prepare(batch)
    assert info.value.issues[0].field == "params.tool_choice"
