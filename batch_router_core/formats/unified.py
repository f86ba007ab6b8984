"""The unified JSONL formats: requests in, results out (documented in docs/formats.md).

Reading streams line by line; a bad line raises a ValidationError naming the file, the line, the
``custom_id`` (when it could be read) and the field. Writing streams too and creates user-only
files.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import AsyncIterable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from batch_router_core.errors import ValidationError, ValidationIssue
from batch_router_core.files import atomic_file, iter_jsonl_lines, write_jsonl_lines
from batch_router_core.models.enums import InputMessageRole, ResultStatus
from batch_router_core.models.params import InferenceParams, new_params
from batch_router_core.models.requests import InputRequest, new_text_request
from batch_router_core.models.results import RequestError, RequestResult, new_result, new_usage
from batch_router_core.models.tools import ToolCall
from batch_router_core.plugin.fastjson import SENTINELS, OneTextLines, one_user_text
from batch_router_core.serialization import from_data, to_data
from batch_router_core.serialization import usage_to_data as _usage_data

__all__ = [
    "read_input",
    "read_requests",
    "request_line",
    "result_from_data",
    "request_from_data",
    "result_line",
    "write_results",
    "write_results_async",
]


_ROLES = {"user": InputMessageRole.USER, "assistant": InputMessageRole.ASSISTANT}
_REQUEST_KEYS = frozenset(("custom_id", "messages", "params", "metadata"))


def request_from_data(data: dict[str, Any]) -> InputRequest:
    """``from_data(InputRequest, data)``, built directly for the common shape (text messages given
    as ``{"role", "content": "..."}``) at a fraction of the cost, after the same checks. Any other
    shape, and any problem, goes through the converter, so errors read the same either way."""
    messages = data.get("messages")
    cid = data.get("custom_id")
    if type(cid) is str and cid and type(messages) is list and data.keys() <= _REQUEST_KEYS:
        turns = []
        for m in messages:
            if type(m) is not dict or len(m) != 2:
                break
            role = _ROLES.get(m.get("role"))  # type: ignore[arg-type]
            text = m.get("content", m.get("contents"))
            if role is None or type(text) is not str:
                break
            turns.append((role, text))
        else:
            if turns:
                params = data.get("params")
                try:
                    own = None if params is None else _params_from_data(params)
                except ValidationError:
                    pass  # reported below, by the converter, with the field's path
                else:
                    meta = data.get("metadata")
                    if meta is None or type(meta) is dict:
                        return new_text_request(cid, turns, own, meta)
    return from_data(InputRequest, data)


_FLOAT_PARAMS = frozenset(("temperature", "top_p", "presence_penalty", "frequency_penalty"))
_INT_PARAMS = frozenset(("max_output_tokens", "top_k", "seed", "embedding_dimensions"))
_INT64 = 1 << 63


def _params_from_data(data: Any) -> InferenceParams:
    """A request's own settings: the common keys with plain values straight into the constructor
    (which checks the ranges), after the converter's type rules (no coercion; an integer is a
    number; 64-bit integers). Anything else goes through the converter."""
    if type(data) is not dict:
        return from_data(InferenceParams, data)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        kind = type(value)
        if key == "system_prompt" and kind is str:
            kwargs[key] = value
        elif key in _FLOAT_PARAMS and (kind is float or kind is int) and math.isfinite(value):
            kwargs[key] = float(value)
        elif key in _INT_PARAMS and kind is int and -_INT64 <= value < _INT64:
            kwargs[key] = value
        else:
            return from_data(InferenceParams, data)
    return new_params(kwargs)


def read_requests(path: Path | str) -> Iterator[InputRequest]:
    """Stream :class:`InputRequest` objects from a unified JSONL file.

    Each line is ``{"custom_id": ..., "messages": [...], "params": {...}?}``. Problems on any line
    raise a :class:`ValidationError` whose issues carry path, line, custom_id and field.
    """
    return read_input(path, accept_openai=False)


_OPENAI_PARAMS = {
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "max_output_tokens": "max_output_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "seed": "seed",
    "stop": "stop_sequences",
    "dimensions": "embedding_dimensions",
}


def _openai_parts(content: Any) -> Any:
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        kind = part.get("type")
        if kind in ("text", "input_text"):
            parts.append({"type": "text", "text": part["text"]})
        elif kind in ("image_url", "input_image"):
            url = (
                part["image_url"]["url"]
                if isinstance(part.get("image_url"), dict)
                else part["image_url"]
            )
            if url.startswith("data:"):
                head, _, data = url.partition(",")
                parts.append({"type": "image", "media_type": head[5:].split(";")[0], "data": data})
            else:
                parts.append({"type": "image", "url": url})
        elif kind == "input_audio":
            fmt = part["input_audio"]["format"]
            parts.append(
                {
                    "type": "audio",
                    "data": part["input_audio"]["data"],
                    "media_type": {"mp3": "audio/mpeg"}.get(fmt, f"audio/{fmt}"),
                }
            )
        else:
            raise ValidationError(f"content part type {kind!r} has no unified equivalent")
    return parts


def _from_openai(data: dict[str, Any], passthrough: bool) -> dict[str, Any]:
    """An OpenAI batch input line as a unified request dict (the model comes from the batch)."""
    body = dict(data.get("body") or {})
    body.pop("model", None)
    params: dict[str, Any] = {}
    messages = []
    system: list[str] = []
    if "messages" in body:
        for m in body.pop("messages"):
            if m.get("role") in ("system", "developer"):
                content = m.get("content")
                system.append(
                    content
                    if isinstance(content, str)
                    else "".join(p.get("text", "") for p in content)
                )
            else:
                messages.append({"role": m["role"], "contents": _openai_parts(m.get("content"))})
    for key in ("input", "prompt"):
        if key in body:
            value = body.pop(key)
            messages.append(
                {
                    "role": "user",
                    "contents": value
                    if isinstance(value, str)
                    else _openai_parts(value)
                    if isinstance(value, list)
                    else str(value),
                }
            )
    if "instructions" in body:
        system.append(body.pop("instructions"))
    if system:
        params["system_prompt"] = system[0] if len(system) == 1 else system
    for key, name in _OPENAI_PARAMS.items():
        if key in body:
            params[name] = body.pop(key)
    body.pop("encoding_format", None)
    if body:
        if not passthrough:
            raise ValidationError(
                f"OpenAI-specific field(s) {sorted(body)} cannot run on another provider; remove "
                f"them",
                field="body",
            )
        params["provider_kwargs"] = body
    out: dict[str, Any] = {"custom_id": data.get("custom_id"), "messages": messages}
    if params:
        out["params"] = params
    return out


def read_input(
    path: Path | str,
    *,
    openai_passthrough: bool | None = None,
    accept_openai: bool = True,
    provider: str | None = None,
    issues: list[ValidationIssue] | None = None,
) -> Iterator[InputRequest]:
    """Stream requests from a unified JSONL file or an OpenAI batch input file (detected per line).

    OpenAI lines (``{"custom_id", "method", "url", "body"}``) become unified requests: system
    messages become the system prompt, generation fields become params, the ``model`` is ignored
    (the batch's model applies). Other OpenAI-only fields pass through (as ``provider_kwargs``) only
    with ``openai_passthrough``: for a provider whose ``capabilities.wire_format`` is
    ``openai_batch``; otherwise they are an error, never dropped. (``provider``, the 0.1 way of
    saying this, is deprecated.)

    With ``issues`` (a list), problems are appended to it instead of raised and every valid line is
    yielded, so that a caller can check those further and report everything at once.
    """
    if openai_passthrough is None:
        openai_passthrough = False
        if provider is not None:
            warnings.warn(
                "read_input(provider=...) is deprecated: pass openai_passthrough=True for a "
                "provider "
                "whose capabilities.wire_format is openai_batch",
                DeprecationWarning,
                stacklevel=2,
            )
            openai_passthrough = provider == "openai"
    label = str(path)
    # Every problem of the file in one pass: the valid lines stream on, the issues are raised
    # together at the end (capped, so a file of garbage does not build an unbounded list).
    collect = issues is not None
    if issues is None:
        issues = []
    for number, raw in iter_jsonl_lines(path):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            issues.append(ValidationIssue(f"invalid JSON: {exc}", path=label, line=number))
            continue
        if not isinstance(data, dict):
            issues.append(
                ValidationIssue(
                    f"expected a JSON object per line, got {type(data).__name__}",
                    path=label,
                    line=number,
                )
            )
            continue
        cid = data.get("custom_id") if isinstance(data.get("custom_id"), str) else None
        try:
            if accept_openai and "body" in data and "messages" not in data:
                data = _from_openai(data, passthrough=openai_passthrough)
            request = request_from_data(data)
        except ValidationError as exc:
            issues.extend(
                ValidationIssue(
                    i.message, custom_id=i.custom_id or cid, field=i.field, path=label, line=number
                )
                for i in exc.issues
            )
        except (KeyError, TypeError, AttributeError) as exc:
            issues.append(
                ValidationIssue(
                    f"malformed OpenAI batch line: {exc!r}", custom_id=cid, path=label, line=number
                )
            )
        else:
            if collect or not issues:
                yield request
        if len(issues) >= _MAX_ISSUES:
            issues.append(
                ValidationIssue(f"stopped after {_MAX_ISSUES} problems", path=label, line=number)
            )
            break
    if issues and not collect:
        raise ValidationError(issues)


_MAX_ISSUES = 1000


def result_line(result: RequestResult, *, include_raw: bool = False) -> bytes:
    """One unified result as a JSON line (without the provider's raw record unless asked).

    Hand-written rather than through the converter: it runs once per request of every download.
    The output is the same as ``to_data`` (a test keeps them equal).
    """
    e = result.error
    data: dict[str, Any] = {
        "custom_id": result.custom_id,
        "status": result.status,
        "provider": result.provider,
        "model": result.model,
        "text": result.text,
        "embedding": result.embedding,
        "finish_reason": result.finish_reason,
        "usage": _usage_data(result.usage) if result.usage is not None else None,
        "error": None
        if e is None
        else {
            k: v
            for k, v in (
                ("message", e.message),
                ("code", e.code),
                ("type", e.type),
                ("status_code", e.status_code),
            )
            if v is not None or k == "message"
        },
        "parsed": result.parsed,
        "tool_calls": None
        if result.tool_calls is None
        else [
            {"id": c.id, "name": c.name, "arguments": c.arguments}
            if c.arguments_text is None
            else {
                "id": c.id,
                "name": c.name,
                "arguments": c.arguments,
                "arguments_text": c.arguments_text,
            }
            for c in result.tool_calls
        ],
        "metadata": result.metadata,
    }
    if include_raw:
        data["raw"] = result.raw
    return orjson.dumps(data)


_RESULT_STATUS = {s.value: s for s in ResultStatus}  # a dict lookup: Enum(value) is slow per line


def result_from_data(data: dict[str, Any]) -> RequestResult:
    """A result line (as written by :func:`result_line`) back into a :class:`RequestResult`."""
    u = data.get("usage")
    e = data.get("error")
    emb = data.get("embedding")
    return new_result(
        data["custom_id"],
        _RESULT_STATUS[data["status"]],
        data.get("provider"),
        data.get("model"),
        data.get("text"),
        tuple(emb) if emb is not None else None,
        data.get("finish_reason"),
        new_usage(
            u["prompt_tokens"],
            u["completion_tokens"],
            u["total_tokens"],
            u.get("cached_tokens"),
            u.get("cache_creation_tokens"),
            u.get("reasoning_tokens"),
        )
        if u
        else None,
        RequestError(
            message=e["message"],
            code=e.get("code"),
            type=e.get("type"),
            status_code=e.get("status_code"),
        )
        if e
        else None,
        data.get("raw"),
        data.get("parsed"),
        None
        if (calls := data.get("tool_calls")) is None
        else tuple(
            ToolCall(
                id=c["id"],
                name=c["name"],
                arguments=c.get("arguments"),
                arguments_text=c.get("arguments_text"),
            )
            for c in calls
        ),
        data.get("metadata"),
    )


def request_line(request: InputRequest) -> bytes:
    """One request as a unified JSONL line (text-only requests without the converter's overhead).

    The same bytes as ``orjson.dumps(to_data(request))`` (a test keeps them equal): this runs once
    per request of every job, to keep the copy that retries and recovery read back.
    """
    text = one_user_text(request)
    if text is not None and request.metadata is None:
        # Most requests of a large file: spliced, not serialised whole.
        return _ONE_TEXT.line(request.custom_id, text)
    params = request.params
    own = None if params is None else _params_data(params)
    if (params is None or own is not None) and all(m.is_plain_text for m in request.messages):
        data: dict[str, Any] = {
            "custom_id": request.custom_id,
            "messages": [
                {
                    "role": m.role,
                    "contents": [
                        {"type": "text", "text": c.text}  # type: ignore[union-attr]
                        for c in m.contents
                    ],
                }
                for m in request.messages
            ],
        }
        if own is not None:
            data["params"] = own
        if request.metadata is not None:
            data["metadata"] = request.metadata
        return orjson.dumps(data)
    return orjson.dumps(to_data(request))


_ONE_TEXT = OneTextLines(
    {
        "custom_id": SENTINELS[0],
        "messages": [{"role": "user", "contents": [{"type": "text", "text": SENTINELS[1]}]}],
    }
)
_PARAM_DEFAULTS = tuple(
    (a.name, a.default) for a in attrs.fields(InferenceParams) if a.name != "provider_kwargs"
)


def _params_data(params: InferenceParams) -> dict[str, Any] | None:
    """The converter's data for settings without ``provider_kwargs``, tools or a schema (fields
    left at their default omitted; orjson writes tuples and enums as the converter's lists and
    values); None for the others, whose values only the converter knows how to write."""
    if params.provider_kwargs or params.tools is not None or params.output_schema is not None:
        return None
    data = {}
    for name, default in _PARAM_DEFAULTS:
        value = getattr(params, name)
        if value != default:
            data[name] = value
    return data


def write_results(
    path: Path | str,
    results: Iterable[RequestResult],
    *,
    include_raw: bool = False,
    overwrite: bool = True,
) -> int:
    """Write results as unified JSONL (user-only file); returns how many were written."""
    count, _ = write_jsonl_lines(
        path, (result_line(r, include_raw=include_raw) for r in results), overwrite=overwrite
    )
    return count


async def write_results_async(
    path: Path | str, results: AsyncIterable[RequestResult], *, include_raw: bool = False
) -> int:
    """Write an async stream of results as unified JSONL, streaming and atomically; returns the
    count."""
    count = 0
    with atomic_file(path) as fh:
        async for r in results:
            fh.write(result_line(r, include_raw=include_raw) + b"\n")
            count += 1
    return count
