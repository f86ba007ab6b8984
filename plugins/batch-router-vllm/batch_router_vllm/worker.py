"""The offline engine: vLLM's Python API (``vllm.LLM``) over one job's input file, in its own
process.

Run by the job's runner as ``PYTHON path/to/worker.py JOB_DIR`` with the interpreter that has vLLM,
which need not have batch-router: this file uses only the standard library and vLLM. It reads the
OpenAI-format input lines the plugin prepared, serves them in chunks, appends one OpenAI-format
output line per request to the output file as each chunk finishes (the same shape ``run_batch``
writes, so one parser reads both) and records its progress in ``progress.json``. A line naming
another model than the one loaded gets that request's own 404 error, as ``run_batch`` does; a line
whose parameters vLLM refuses gets a 400 for that request alone.

Tools are answered as vLLM's server answers a forced tool choice: decoding constrained to the named
tool's parameters (``tool_choice: {"function": {"name"}}``) or to a list of calls of the offered
tools (``"required"``), the JSON then returned as ``tool_calls``. ``auto`` needs a model-specific
tool-call parser; the plugin refuses it before a job starts.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: body fields of a chat request that map to SamplingParams under another name, or not at all
_RENAMED = {"max_completion_tokens": "max_tokens"}
_NOT_SAMPLING = {
    "model",
    "messages",
    "input",
    "stream",
    "encoding_format",
    "user",
    "dimensions",
    "n",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
}


def _write_json_atomic(path: Path, data: Any) -> None:
    # The one copy outside core's files.atomic_file: this process may run in an interpreter without
    # batch-router (see the module docstring).
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _chunks(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                chunk.append(json.loads(raw))
                if len(chunk) == size:
                    yield chunk
                    chunk = []
    if chunk:
        yield chunk


def _error_line(
    line: dict[str, Any], status: int, message: str, type_: str, param: str | None
) -> dict[str, Any]:
    return {
        "id": f"vllm-{uuid.uuid4().hex[:16]}",
        "custom_id": line.get("custom_id"),
        "response": {
            "status_code": status,
            "request_id": f"vllm-batch-{uuid.uuid4().hex[:16]}",
            "body": None,
        },
        "error": {"error": {"message": message, "type": type_, "param": param, "code": status}},
    }


def _ok_line(line: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"vllm-{uuid.uuid4().hex[:16]}",
        "custom_id": line["custom_id"],
        "response": {
            "status_code": 200,
            "request_id": f"vllm-batch-{uuid.uuid4().hex[:16]}",
            "body": body,
        },
        "error": None,
    }


def _object(schema: Any) -> dict[str, Any]:
    return schema if isinstance(schema, dict) and schema else {"type": "object", "properties": {}}


def _tool_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema a forced tool choice constrains the answer to (as vLLM's server does)."""
    choice = body.get("tool_choice")
    tools = [t.get("function") or {} for t in body.get("tools") or []]
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        found = [t for t in tools if t.get("name") == name]
        if not found:
            raise ValueError(f"tool {name!r} has not been passed in `tools`")
        return _object(found[0].get("parameters"))
    if choice == "required" and tools:
        return {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "anyOf": [
                    {
                        "properties": {
                            "name": {"type": "string", "enum": [t.get("name")]},
                            "parameters": _object(t.get("parameters")),
                        },
                        "required": ["name", "parameters"],
                    }
                    for t in tools
                ],
            },
        }
    return None


def _tool_calls(body: dict[str, Any], text: str) -> list[dict[str, Any]] | None:
    """The answer of a forced tool choice as OpenAI ``tool_calls`` (None: not JSON, e.g. cut off
    by max tokens; the text is then returned as it came)."""
    choice = body.get("tool_choice")
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(choice, dict):
        calls = [{"name": (choice.get("function") or {}).get("name"), "parameters": value}]
    elif isinstance(value, list):
        calls = value
    else:
        return None
    return [
        {
            "id": f"chatcmpl-tool-{uuid.uuid4().hex[:16]}",
            "type": "function",
            "function": {"name": c.get("name"), "arguments": json.dumps(c.get("parameters"))},
        }
        for c in calls
        if isinstance(c, dict)
    ]


def _sampling(body: dict[str, Any], vllm: Any) -> Any:
    kwargs: dict[str, Any] = {}
    for key, value in body.items():
        if key in _NOT_SAMPLING or value is None:
            continue
        kwargs[_RENAMED.get(key, key)] = value
    if isinstance(kwargs.get("stop"), str):
        kwargs["stop"] = [kwargs["stop"]]
    response_format = kwargs.pop("response_format", None)
    structured = dict(kwargs.pop("structured_outputs", None) or {})
    if response_format is not None:
        # Structured output as run_batch's server does it: decoding constrained to the schema,
        # the body's own structured_outputs options kept.
        if response_format.get("type") == "json_schema":
            structured["json"] = (response_format.get("json_schema") or {}).get("schema")
        elif response_format.get("type") == "json_object":
            structured["json_object"] = True
        elif response_format.get("type") != "text":
            raise ValueError(f"unsupported response_format {response_format.get('type')!r}")
    tool_schema = _tool_schema(body)
    if tool_schema is not None:
        structured["json"] = tool_schema
    if structured:
        from vllm.sampling_params import StructuredOutputsParams

        kwargs["structured_outputs"] = StructuredOutputsParams(**structured)
    return vllm.SamplingParams(**kwargs)


def _chat_body(line: dict[str, Any], output: Any, served: str) -> dict[str, Any]:
    completion = output.outputs[0]
    prompt_tokens = len(output.prompt_token_ids or ())
    completion_tokens = len(completion.token_ids)
    body = line.get("body") or {}
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    finish = completion.finish_reason
    calls = _tool_calls(body, completion.text) if _tool_schema(body) is not None else None
    if calls:
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        # As vLLM's server: "tool_calls" for a required choice, "stop" for a named one.
        finish = "tool_calls" if body.get("tool_choice") == "required" else finish
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _embedding_body(output: Any, served: str) -> dict[str, Any]:
    tokens = len(output.prompt_token_ids or ())
    return {
        "id": f"embd-{uuid.uuid4().hex[:16]}",
        "object": "list",
        "created": int(time.time()),
        "model": served,
        "data": [{"index": 0, "object": "embedding", "embedding": list(output.outputs.embedding)}],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def serve_chunk(
    llm: Any, chunk: list[dict[str, Any]], job: dict[str, Any], vllm: Any
) -> list[dict[str, Any]]:
    """Serve a chunk of request lines on ``llm`` in one generate call: one output line each, in
    order (also what the plugin's online groups run on a warm engine)."""
    served = job["served_model_name"]
    embedding = job["mode"] == "embedding"
    out: dict[int, dict[str, Any]] = {}
    todo: list[tuple[int, dict[str, Any], Any]] = []
    for i, line in enumerate(chunk):
        body = line.get("body") or {}
        if body.get("model") != served:
            out[i] = _error_line(
                line,
                404,
                f"The model `{body.get('model')}` does not exist. Valid aliases: {served}.",
                "NotFoundError",
                "model",
            )
            continue
        try:
            params = (
                vllm.PoolingParams(dimensions=body.get("dimensions"))
                if embedding
                else _sampling(body, vllm)
            )
        except Exception as exc:  # noqa: BLE001 - vLLM's own validation message is the answer
            out[i] = _error_line(line, 400, f"{type(exc).__name__}: {exc}", "BadRequestError", None)
            continue
        todo.append((i, line, params))
    if todo:
        if embedding:
            inputs = [line["body"]["input"] for _, line, _ in todo]
            results = llm.embed(inputs, pooling_params=[p for _, _, p in todo], use_tqdm=False)
            for (i, _line, _), result in zip(todo, results, strict=True):
                out[i] = _ok_line(_line, _embedding_body(result, served))
        else:
            conversations = [line["body"]["messages"] for _, line, _ in todo]
            results = llm.chat(
                conversations, sampling_params=[p for _, _, p in todo], use_tqdm=False
            )
            for (i, _line, _), result in zip(todo, results, strict=True):
                out[i] = _ok_line(_line, _chat_body(_line, result, served))
    return [out[i] for i in range(len(chunk))]


def main(argv: list[str]) -> int:
    """Serve the job in ``argv[1]``."""
    job_dir = Path(argv[1])
    job = json.loads((job_dir / "job.json").read_text())
    # One process: no engine-core subprocess to leak when the job is cancelled.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    import vllm

    args = dict(job.get("engine_args") or {})
    args.setdefault("distributed_executor_backend", "uni")
    if job["mode"] == "embedding":
        args.setdefault("runner", "pooling")
        args.setdefault("convert", "embed")
    llm = vllm.LLM(model=job["model_path"], served_model_name=job["served_model_name"], **args)
    total, done, succeeded = job["request_count"], 0, 0
    _write_json_atomic(
        job_dir / "progress.json", {"total": total, "done": 0, "succeeded": 0, "serving": True}
    )
    with open(job["output"], "a", encoding="utf-8") as out:
        for chunk in _chunks(Path(job["input"]), int(job.get("offline_chunk") or 16)):
            for line in serve_chunk(llm, chunk, job, vllm):
                out.write(json.dumps(line) + "\n")
                succeeded += line["error"] is None
            out.flush()
            done += len(chunk)
            _write_json_atomic(
                job_dir / "progress.json",
                {"total": total, "done": done, "succeeded": succeeded, "serving": True},
            )
    del llm  # the engine is shut down before the process reports success
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
