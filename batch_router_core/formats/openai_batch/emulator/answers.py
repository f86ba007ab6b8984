"""Deterministic responses with realistic shapes and usage, derived from each request body."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import orjson

from batch_router_core.emulation.answers import (
    estimate_tokens,
    prompt_tokens,
    reply_to,
    schema_reply,
    tool_to_call,
)

__all__ = ["BodyError", "answer"]

_EMBED_DIMS = {
    "text-embedding-3-large": 3072,
    "text-embedding-3-small": 1536,
    "text-embedding-ada-002": 1536,
}


class BodyError(Exception):
    """A request the API would reject: becomes a line of the error file."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type, "param": param, "code": code}}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _reply(prompt: str, limit: int | None) -> tuple[str, str, int]:
    text, truncated, tokens = reply_to(prompt, limit)
    return text, "length" if truncated else "stop", tokens


def _texts(body: dict[str, Any], field: str) -> list[str]:
    """``body[field]`` as a list of strings (one string, or a non-empty array of them)."""
    value = body.get(field)
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BodyError(400, f"'{field}' must be a string or an array of strings", param=field)
    return texts


def _vector(text: str, dims: int) -> list[float]:
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((v / 2**31) - 1.0 for v in struct.unpack(">8I", digest))
        counter += 1
    norm = sum(v * v for v in out[:dims]) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in out[:dims]]


def answer(endpoint: str, body: dict[str, Any], *, request_no: int, created: int) -> dict[str, Any]:
    """The response body the API would return for one request (or raise BodyError)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BodyError(400, "you must provide a model parameter", param="model")
    if "nonexistent" in model:
        raise BodyError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if body.get("stream"):
        raise BodyError(400, "stream is not supported in the Batch API", param="stream")
    rid = f"{request_no:08x}"

    def count(text: str) -> int:
        return prompt_tokens(text, "openai", str(model))

    if endpoint == "/v1/chat/completions":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BodyError(400, "'messages' must be a non-empty array", param="messages")
        pt = sum(count(_text_of(m.get("content"))) + 3 for m in messages)
        last = _text_of(messages[-1].get("content"))
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        fmt = body.get("response_format")
        choice = body.get("tool_choice")
        after_call = messages[
            max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
            + 1 :
        ]
        call = (
            None
            # The model's last calls were answered with tools' results: it replies in text.
            if any(m.get("role") == "tool" for m in after_call)
            else tool_to_call(
                [
                    (t["function"]["name"], t["function"].get("parameters"))
                    for t in body.get("tools") or []
                ],
                choice["function"]["name"] if isinstance(choice, dict) else choice,
                last,
            )
        )
        tool_calls = None
        if call is not None:
            arguments = orjson.dumps(call[1]).decode()
            tool_calls = [
                {
                    "id": f"call_emu{rid}",
                    "type": "function",
                    "function": {"name": call[0], "arguments": arguments},
                }
            ]
            text, finish, completion = None, "tool_calls", estimate_tokens(arguments)
        elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            text, completion = schema_reply((fmt.get("json_schema") or {}).get("schema"), last)
            finish = "stop"
        else:
            text, finish, completion = _reply(last, limit)
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if tool_calls is not None:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-emu{rid}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": pt,
                "completion_tokens": completion,
                "total_tokens": pt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "system_fingerprint": "fp_emulator",
        }
    if endpoint == "/v1/completions":
        # One prompt, or a list of them (one choice each, by index), as the API takes.
        prompts = _texts(body, "prompt")
        choices, pt, completion = [], 0, 0
        for index, one in enumerate(prompts):
            text, finish, tokens = _reply(one, body.get("max_tokens", 16))
            choices.append(
                {"text": text, "index": index, "logprobs": None, "finish_reason": finish}
            )
            pt += count(one)
            completion += tokens
        return {
            "id": f"cmpl-emu{rid}",
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": {
                "prompt_tokens": pt,
                "completion_tokens": completion,
                "total_tokens": pt + completion,
            },
        }
    if endpoint == "/v1/embeddings":
        inputs = _texts(body, "input")
        dims = body.get("dimensions") or _EMBED_DIMS.get(model, 1536)
        pt = sum(count(i) for i in inputs)
        return {
            "object": "list",
            "model": model,
            "data": [
                {"object": "embedding", "index": i, "embedding": _vector(t, dims)}
                for i, t in enumerate(inputs)
            ],
            "usage": {"prompt_tokens": pt, "total_tokens": pt},
        }
    if endpoint == "/v1/responses":
        inp = body.get("input")
        if isinstance(inp, str):
            last, pt = inp, count(inp)
        elif isinstance(inp, list) and inp:
            last = _text_of(inp[-1].get("content"))
            pt = sum(count(_text_of(m.get("content"))) + 3 for m in inp)
        else:
            raise BodyError(400, "'input' is required", param="input")
        if isinstance(body.get("instructions"), str):
            pt += count(body["instructions"])
        fmt = (body.get("text") or {}).get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            text, completion = schema_reply(fmt.get("schema"), last)
            finish = "stop"
        else:
            text, finish, completion = _reply(last, body.get("max_output_tokens"))
        return {
            "id": f"resp_emu{rid}",
            "object": "response",
            "created_at": created,
            "model": model,
            "status": "completed" if finish == "stop" else "incomplete",
            "incomplete_details": None if finish == "stop" else {"reason": "max_output_tokens"},
            "output": [
                {
                    "type": "message",
                    "id": f"msg_emu{rid}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ],
            "usage": {
                "input_tokens": pt,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": pt + completion,
            },
        }
    raise BodyError(400, f"unsupported endpoint {endpoint}", param="url")
