"""OpenAI batch output and error lines -> unified results."""

from __future__ import annotations

from typing import Any

import orjson

from batch_router_core.plugin import (
    RequestError,
    RequestResult,
    ResultStatus,
    ToolCall,
    new_result,
    new_usage,
)

__all__ = ["parse_line"]

SUCCEEDED = ResultStatus.SUCCEEDED
ERRORED = ResultStatus.ERRORED
_STATUS_FOR_CODE = {
    "batch_expired": ResultStatus.EXPIRED,
    "batch_cancelled": ResultStatus.CANCELLED,
}


def _usage(u: dict[str, Any] | None) -> Any:
    if not u:
        return None
    prompt = u.get("prompt_tokens")
    if prompt is not None:  # chat, completions, embeddings
        completion = u.get("completion_tokens", 0)
        details = u.get("prompt_tokens_details")
        out_details = u.get("completion_tokens_details")
        return new_usage(
            prompt,
            completion,
            u.get("total_tokens", prompt + completion),
            details.get("cached_tokens") if details else None,
            None,
            out_details.get("reasoning_tokens") if out_details else None,
        )
    prompt = u.get("input_tokens", 0)  # responses
    completion = u.get("output_tokens", 0)
    details = u.get("input_tokens_details")
    out_details = u.get("output_tokens_details")
    return new_usage(
        prompt,
        completion,
        u.get("total_tokens", prompt + completion),
        details.get("cached_tokens") if details else None,
        None,
        out_details.get("reasoning_tokens") if out_details else None,
    )


def _output(body: dict[str, Any]) -> tuple[str | None, tuple[float, ...] | None, str | None]:
    """(text, embedding, finish_reason) of a 2xx response body, whatever the endpoint."""
    choices = body.get("choices")
    if choices:
        first = choices[0]
        message = first.get("message")
        if message is not None:  # chat completion
            content = message.get("content")
            if isinstance(content, list):  # some gateways return parts
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            if content is None and message.get("refusal"):
                content = message["refusal"]
            return content, None, first.get("finish_reason")
        return first.get("text"), None, first.get("finish_reason")  # completion
    data = body.get("data")
    if data is not None:  # embeddings: one vector per request (the first input's)
        if data and "embedding" in data[0]:
            return None, tuple(data[0]["embedding"]), None
        return None, None, None  # e.g. vLLM score/rerank lists: kept in ``raw``
    output = body.get("output")
    if output is not None:  # responses
        texts = [
            c.get("text", "")
            for item in output
            if item.get("type") == "message"
            for c in item.get("content", [])
            if c.get("type") == "output_text"
        ]
        incomplete = (body.get("incomplete_details") or {}).get("reason")
        finish = (
            "length"
            if incomplete == "max_output_tokens"
            else ("stop" if body.get("status") == "completed" else body.get("status"))
        )
        return "".join(texts), None, finish
    return None, None, None


def parse_line(
    line: dict[str, Any], model: str | None = None, provider: str = "openai"
) -> RequestResult:
    """One line of an output or error file as a unified result (the line is kept as ``raw``).

    Also reads vLLM's ``run_batch`` lines (``provider="vllm"``), whose request errors nest the error
    object once more (``{"error": {"error": {...}}}``) beside a body-less response.
    """
    cid = line["custom_id"]
    err = line.get("error")
    response = line.get("response")
    if err and isinstance(err.get("error"), dict):  # vLLM: the HTTP error body, whole
        e = err["error"]
        status_code = (response or {}).get("status_code") or (
            e.get("code") if isinstance(e.get("code"), int) else None
        )
        return new_result(
            cid,
            ERRORED,
            provider,
            model,
            error=RequestError(
                message=e.get("message") or f"HTTP {status_code}",
                code=str(e["code"]) if e.get("code") is not None else None,
                type=e.get("type"),
                status_code=status_code,
            ),
            raw=line,
        )
    if err:  # failed outside HTTP: expiry, cancellation
        code = err.get("code")
        return new_result(
            cid,
            _STATUS_FOR_CODE.get(code, ERRORED),
            provider,
            model,
            error=RequestError(message=err.get("message") or "", code=code),
            raw=line,
        )
    if response and "status_code" not in response and "body" not in response:
        # Older vLLM run-batch output puts the response body itself here, with no envelope.
        status_code, body = 200, response
    else:
        status_code = response.get("status_code", 0) if response else 0
        body = (response or {}).get("body") or {}
    if not 200 <= status_code < 300:
        e = body.get("error") or {}
        return new_result(
            cid,
            ERRORED,
            provider,
            body.get("model", model),
            error=RequestError(
                message=e.get("message") or f"HTTP {status_code}",
                code=e.get("code"),
                type=e.get("type"),
                status_code=status_code or None,
            ),
            raw=line,
        )
    text, embedding, finish = _output(body)
    choices = body.get("choices")
    calls = (choices[0].get("message") or {}).get("tool_calls") if choices else None
    return new_result(
        cid,
        SUCCEEDED,
        provider,
        body.get("model", model),
        text,
        embedding,
        finish,
        _usage(body.get("usage")),
        None,
        line,
        None,
        _tool_calls(calls) if calls else None,
    )


def _tool_calls(calls: list[dict[str, Any]]) -> tuple[ToolCall, ...]:
    """A chat message's ``tool_calls``, their arguments (a JSON string the model wrote) parsed;
    arguments that are not a JSON object are kept as text only."""
    out = []
    for c in calls:
        function = c.get("function") or {}
        text = function.get("arguments") or "{}"
        try:
            arguments = orjson.loads(text)
        except orjson.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            out.append(
                ToolCall(
                    id=c.get("id", ""),
                    name=function.get("name", ""),
                    arguments=None,
                    arguments_text=text,
                )
            )
        else:
            out.append(
                ToolCall(id=c.get("id", ""), name=function.get("name", ""), arguments=arguments)
            )
    return tuple(out)
