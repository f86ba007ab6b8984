"""Unified batch -> Gemini batch lines (``{"key", "request": GenerateContentRequest}``),
snake_case."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from batch_router_core.plugin import (
    BatchMode,
    InferenceParams,
    InputBatch,
    InputRequest,
    TextContent,
    ToolCallContent,
    ToolResultContent,
    ValidationError,
    ValidationIssue,
    with_kwargs,
)
from batch_router_core.plugin.fastjson import SENTINELS, OneTextLines, one_user_text

__all__ = ["batch_lines"]

_ROLES = {"user": "user", "assistant": "model"}


def _part(part: Any) -> dict[str, Any]:
    if type(part) is TextContent:
        return {"text": part.text}
    if type(part) is ToolCallContent:
        return {"function_call": {"id": part.id, "name": part.name, "args": dict(part.arguments)}}
    if type(part) is ToolResultContent:
        key = "error" if part.is_error else "output"
        return {
            "function_response": {
                "id": part.tool_call_id,
                "name": part.name,
                "response": {key: part.content},
            }
        }
    if part.data is not None:
        return {"inline_data": {"mime_type": part.media_type, "data": part.data}}
    data: dict[str, Any] = {"file_uri": part.url}
    if part.media_type:
        data["mime_type"] = part.media_type
    return {"file_data": data}


def _contents(req: InputRequest) -> list[dict[str, Any]]:
    # cache_breakpoint has no wire form here: Gemini caches repeated prefixes implicitly.
    return [
        with_kwargs(
            {
                "role": _ROLES[m.role.value],
                "parts": [with_kwargs(_part(p), p) for p in m.contents],
            },
            m,
        )
        for m in req.messages
    ]


def _generation_config(params: InferenceParams) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, key in (
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("top_k", "top_k"),
        ("max_output_tokens", "max_output_tokens"),
        ("presence_penalty", "presence_penalty"),
        ("frequency_penalty", "frequency_penalty"),
        ("seed", "seed"),
    ):
        value = getattr(params, name)
        if value is not None:
            config[key] = value
    if params.stop_sequences is not None:
        config["stop_sequences"] = list(params.stop_sequences)
    thinking: dict[str, Any] = {}
    if params.thinking_budget is not None:
        thinking["thinking_budget"] = params.thinking_budget
    if params.reasoning_effort is not None:
        # Gemini 3's thinking_level takes the same words (which of them a model takes is the
        # service's to say; capabilities.models_without keeps it off 2.x models).
        thinking["thinking_level"] = params.reasoning_effort
    if thinking:
        config["thinking_config"] = thinking
    if params.output_schema is not None:
        # JSON Schema as written (responseJsonSchema), not the OpenAPI subset of responseSchema.
        config["response_mime_type"] = "application/json"
        config["response_json_schema"] = dict(params.output_schema.schema)
    return config


def _request_base(params: InferenceParams, cid: str | None) -> dict[str, Any]:
    """Everything of a request body that comes from params."""
    if params.mode is BatchMode.EMBEDDING:
        extra = [n for n in params.set_fields() if n != "embedding_dimensions"]
        if extra:
            raise ValidationError(
                ValidationIssue(
                    f"{extra[0]} does not apply to embeddings",
                    custom_id=cid,
                    field=f"params.{extra[0]}",
                ),
                provider="google",
            )
        out: dict[str, Any] = {}
        if params.embedding_dimensions is not None:
            out["output_dimensionality"] = params.embedding_dimensions
        out.update(params.provider_kwargs)
        return out
    if params.embedding_dimensions is not None:
        raise ValidationError(
            ValidationIssue(
                "embedding_dimensions only applies to embedding batches",
                custom_id=cid,
                field="params.embedding_dimensions",
            ),
            provider="google",
        )
    if params.thinking_budget is not None and params.reasoning_effort is not None:
        raise ValidationError(
            ValidationIssue(
                "Gemini takes a thinking budget or a thinking level (reasoning_effort), not both",
                custom_id=cid,
                field="params.thinking_budget",
            ),
            provider="google",
        )
    out = {}
    sp = params.system_prompt
    if sp is not None:
        texts = [sp] if isinstance(sp, str) else list(sp)
        out["system_instruction"] = {"parts": [{"text": t} for t in texts]}
    if params.tools is not None:
        out["tools"] = [
            {
                "function_declarations": [
                    {
                        "name": t.name,
                        "description": t.description,
                        "parameters_json_schema": dict(t.parameters),
                    }
                    for t in params.tools
                ]
            }
        ]
    choice = params.tool_choice
    if choice is not None:
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice)
        config: dict[str, Any] = {"mode": mode or "ANY"}
        if mode is None:
            config["allowed_function_names"] = [choice]
        out["tool_config"] = {"function_calling_config": config}
    gen = _generation_config(params)
    kwargs = dict(params.provider_kwargs)
    # provider_kwargs may add generation fields (response_schema...) as well as top-level ones
    # (tools).
    gen.update(kwargs.pop("generation_config", {}))
    if gen:
        out["generation_config"] = gen
    out.update(kwargs)
    return out


def _request(req: InputRequest, mode: BatchMode, base: dict[str, Any]) -> dict[str, Any]:
    if mode is BatchMode.EMBEDDING:
        return {"content": {"parts": [{"text": "\n".join(m.text for m in req.messages)}]}, **base}
    return {"contents": _contents(req), **base}


def batch_lines(batch: InputBatch) -> Iterator[bytes]:
    """Yield one ``{"key", "request"}`` line per request, lazily, in input order."""
    dumps = orjson.dumps
    params = batch.configured_params
    mode = params.mode
    base = _request_base(params, None)
    chat = mode is BatchMode.CHAT
    fast = OneTextLines(
        {
            "key": SENTINELS[0],
            "request": {"contents": [{"role": "user", "parts": [{"text": SENTINELS[1]}]}], **base},
        }
    )
    for req in batch.requests:
        if chat and (text := one_user_text(req)) is not None:
            yield fast.line(req.custom_id, text)
            continue
        if req.params is not None:
            eff = batch.params_for(req)
            yield dumps(
                {
                    "key": req.custom_id,
                    "request": _request(req, mode, _request_base(eff, req.custom_id)),
                }
            )
            continue
        yield dumps({"key": req.custom_id, "request": _request(req, mode, base)})
