"""Anthropic result lines (``{"custom_id", "result": {...}}``) -> unified results."""

from __future__ import annotations

from typing import Any

from batch_router_core.plugin import (
    RequestError,
    RequestResult,
    ResultStatus,
    ToolCall,
    new_result,
    new_usage,
)

__all__ = ["parse_line"]

_STATUS = {
    "succeeded": ResultStatus.SUCCEEDED,
    "errored": ResultStatus.ERRORED,
    "canceled": ResultStatus.CANCELLED,
    "expired": ResultStatus.EXPIRED,
}


def parse_line(line: dict[str, Any], model: str | None = None) -> RequestResult:
    """One results line as a unified result (the line is kept as ``raw``)."""
    cid = line["custom_id"]
    result = line["result"]
    kind = result["type"]
    status = _STATUS.get(kind, ResultStatus.ERRORED)
    if kind == "succeeded":
        message = result["message"]
        # One pass over the blocks: this runs for every line of a results file.
        texts: list[str] = []
        calls: list[ToolCall] = []
        for b in message.get("content", ()):
            block_type = b.get("type")
            if block_type == "text":
                texts.append(b.get("text", ""))
            elif block_type == "tool_use":
                calls.append(
                    ToolCall(
                        id=b.get("id", ""), name=b.get("name", ""), arguments=b.get("input") or {}
                    )
                )
        text = texts[0] if len(texts) == 1 else "".join(texts)
        u = message.get("usage") or {}
        inp = u.get("input_tokens", 0)
        cache_read = u.get("cache_read_input_tokens")
        cache_write = u.get("cache_creation_input_tokens")
        out = u.get("output_tokens", 0)
        # Anthropic's input_tokens excludes cached tokens; the unified prompt count includes them.
        prompt = inp + (cache_read or 0) + (cache_write or 0)
        return new_result(
            cid,
            status,
            "anthropic",
            message.get("model", model),
            text,
            None,
            message.get("stop_reason"),
            new_usage(prompt, out, prompt + out, cache_read, cache_write, None),
            None,
            line,
            None,
            tuple(calls) if calls else None,
        )
    if kind == "errored":
        outer = result.get("error") or {}
        inner = outer.get("error", outer) if isinstance(outer.get("error"), dict) else outer
        return new_result(
            cid,
            status,
            "anthropic",
            model,
            error=RequestError(
                message=inner.get("message") or "errored",
                type=inner.get("type"),
                code=inner.get("type"),
            ),
            raw=line,
        )
    message = {
        "canceled": "The batch was cancelled before this request ran.",
        "expired": "The request was not processed before the batch expired.",
    }.get(kind, kind)
    return new_result(
        cid, status, "anthropic", model, error=RequestError(message=message, code=kind), raw=line
    )
