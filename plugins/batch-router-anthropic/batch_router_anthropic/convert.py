"""Unified batch -> Anthropic Message Batches requests (``{"custom_id", "params"}`` per line)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from batch_router_core.plugin import (
    DocumentContent,
    ImageContent,
    InferenceParams,
    InputBatch,
    InputRequest,
    TextContent,
    ToolCallContent,
    ToolResultContent,
    UnsupportedContentError,
    ValidationError,
    ValidationIssue,
    with_kwargs,
)
from batch_router_core.plugin.fastjson import SENTINELS, OneTextLines, one_user_text, plain_text

__all__ = ["batch_lines"]


#: tool_choice in Anthropic's words (any other value names the tool: {"type": "tool", "name"})
_TOOL_CHOICE = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


def _part(part: Any, cid: str, field: str) -> dict[str, Any]:
    block = _block(part, cid, field)
    ttl = part.cache_breakpoint
    if ttl is not None:
        block["cache_control"] = _CACHE_CONTROL[ttl]
    return with_kwargs(block, part)


#: A part's cache_breakpoint as Anthropic's cache_control (5 minutes is its default lifetime).
_CACHE_CONTROL = {"5m": {"type": "ephemeral"}, "1h": {"type": "ephemeral", "ttl": "1h"}}
#: The most cache breakpoints one Anthropic request may set.
MAX_CACHE_BREAKPOINTS = 4


def _block(part: Any, cid: str, field: str) -> dict[str, Any]:
    """The part as an Anthropic content block, before cache_control and provider_kwargs."""
    if type(part) is TextContent:
        return {"type": "text", "text": part.text}
    if isinstance(part, (ImageContent, DocumentContent)):
        kind = "image" if isinstance(part, ImageContent) else "document"
        if part.data is not None:
            source = {"type": "base64", "media_type": part.media_type, "data": part.data}
        else:
            source = {"type": "url", "url": part.url}
        return {"type": kind, "source": source}
    if type(part) is ToolCallContent:
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": dict(part.arguments)}
    if type(part) is ToolResultContent:
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": part.tool_call_id,
            "content": part.content,
        }
        if part.is_error:
            block["is_error"] = True
        return block
    raise UnsupportedContentError(
        ValidationIssue(
            f"Anthropic batches cannot take {type(part).__name__}", custom_id=cid, field=field
        ),
        provider="anthropic",
    )


def _messages(req: InputRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    breakpoints = 0
    for mi, m in enumerate(req.messages):
        text = plain_text(m)
        if text is not None:
            out.append({"role": m.role, "content": text})
            continue
        parts = m.contents
        breakpoints += sum(p.cache_breakpoint is not None for p in parts)
        if breakpoints > MAX_CACHE_BREAKPOINTS:
            raise ValidationError(
                ValidationIssue(
                    f"Anthropic takes at most {MAX_CACHE_BREAKPOINTS} cache breakpoints in a "
                    "request",
                    custom_id=req.custom_id,
                    field=f"messages[{mi}].contents",
                ),
                provider="anthropic",
            )
        wire = {
            "role": m.role,
            "content": [
                _part(p, req.custom_id, f"messages[{mi}].contents[{ci}]")
                for ci, p in enumerate(parts)
            ],
        }
        out.append(with_kwargs(wire, m))
    return out


def _params(
    params: InferenceParams, settings: Mapping[str, Any], cid: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {"model": params.model_id}
    max_tokens = params.max_output_tokens or settings.get("default_max_tokens")
    if max_tokens is None:
        raise ValidationError(
            ValidationIssue(
                "Anthropic requires max_output_tokens (max_tokens); set it, or configure "
                "providers.anthropic.settings.default_max_tokens",
                custom_id=cid,
                field="params.max_output_tokens",
            ),
            provider="anthropic",
        )
    out["max_tokens"] = max_tokens
    sp = params.system_prompt
    if sp is not None:
        out["system"] = sp if isinstance(sp, str) else [{"type": "text", "text": t} for t in sp]
    for name, key in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k")):
        value = getattr(params, name)
        if value is not None:
            out[key] = value
    if params.stop_sequences is not None:
        out["stop_sequences"] = list(params.stop_sequences)
    if params.tools is not None:
        out["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in params.tools
        ]
    if params.tool_choice is not None:
        out["tool_choice"] = _TOOL_CHOICE.get(params.tool_choice) or {
            "type": "tool",
            "name": params.tool_choice,
        }
    output_config: dict[str, Any] = {}
    if params.output_schema is not None:
        # Structured outputs, generally available: output_config.format (the SDK's
        # OutputConfigParam); the beta's top-level output_format and header are not needed.
        schema = dict(params.output_schema.schema)
        output_config["format"] = {"type": "json_schema", "schema": schema}
    if params.reasoning_effort is not None:
        if params.reasoning_effort == "minimal":
            raise ValidationError(
                ValidationIssue(
                    "Anthropic's effort levels start at low (no minimal)",
                    custom_id=cid,
                    field="params.reasoning_effort",
                ),
                provider="anthropic",
            )
        output_config["effort"] = params.reasoning_effort
    if output_config:
        out["output_config"] = output_config
    budget = params.thinking_budget
    if budget is not None:
        if budget and not 1024 <= budget < max_tokens:
            raise ValidationError(
                ValidationIssue(
                    f"Anthropic's thinking budget is at least 1024 tokens and below max_tokens "
                    f"({max_tokens}), got {budget} (0 turns thinking off)",
                    custom_id=cid,
                    field="params.thinking_budget",
                ),
                provider="anthropic",
            )
        out["thinking"] = (
            {"type": "enabled", "budget_tokens": budget} if budget else {"type": "disabled"}
        )
    if params.temperature is not None and params.temperature > 1:
        raise ValidationError(
            ValidationIssue(
                f"Anthropic's temperature range is 0-1, got {params.temperature}",
                custom_id=cid,
                field="params.temperature",
            ),
            provider="anthropic",
        )
    if params.provider_kwargs.get("stream"):
        raise ValidationError(
            ValidationIssue(
                "stream is not allowed in batches",
                custom_id=cid,
                field="params.provider_kwargs.stream",
            ),
            provider="anthropic",
        )
    out.update(params.provider_kwargs)
    return out


def batch_lines(batch: InputBatch, settings: Mapping[str, Any]) -> Iterator[bytes]:
    """Yield one ``{"custom_id", "params"}`` line per request, lazily, in input order."""
    dumps = orjson.dumps
    # The batch's own settings are needed only by requests without settings of their own (a file
    # whose every line carries max_tokens needs no batch-wide value).
    base: dict[str, Any] | None = None
    fast: OneTextLines | None = None
    line: dict[str, Any] = {}
    for req in batch.requests:
        if req.params is not None:
            one = _params(batch.params_for(req), settings, req.custom_id)
            one["messages"] = _messages(req)
            yield dumps({"custom_id": req.custom_id, "params": one})
            continue
        if base is None or fast is None:
            base = _params(batch.configured_params, settings, None)
            # One-user-text requests are spliced into bytes serialised once (see core's fastjson).
            fast = OneTextLines(
                {
                    "custom_id": SENTINELS[0],
                    "params": {**base, "messages": [{"role": "user", "content": SENTINELS[1]}]},
                }
            )
            line = {"custom_id": None, "params": base}
        text = one_user_text(req)
        if text is not None:
            yield fast.line(req.custom_id, text)
            continue
        base["messages"] = _messages(req)
        line["custom_id"] = req.custom_id
        yield dumps(line)
