"""Unified batch -> OpenAI batch input lines (``{"custom_id","method","url","body"}``)."""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from batch_router_core.plugin import (
    AudioContent,
    BatchMode,
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

__all__ = [
    "CHAT",
    "COMPLETIONS",
    "EMBEDDINGS",
    "RESPONSES",
    "batch_lines",
    "body_params",
    "endpoint_for",
    "request_payload",
    "system_message",
]

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
COMPLETIONS = "/v1/completions"
_ENDPOINT_ALIASES = {
    "responses": RESPONSES,
    RESPONSES: RESPONSES,
    "chat": CHAT,
    CHAT: CHAT,
    "chat/completions": CHAT,
}
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/mpeg": "mp3"}


def endpoint_for(params: InferenceParams) -> str:
    """The endpoint a batch runs on: by mode, and ``provider_kwargs["endpoint"]`` for chat."""
    if params.mode is BatchMode.EMBEDDING:
        return EMBEDDINGS
    if params.mode is BatchMode.COMPLETION:
        return COMPLETIONS
    wanted = params.provider_kwargs.get("endpoint")
    if wanted is None:
        return CHAT
    endpoint = _ENDPOINT_ALIASES.get(str(wanted))
    if endpoint is None:
        raise ValidationError(
            f"unknown OpenAI endpoint {wanted!r}; chat batches run on {CHAT} or {RESPONSES}",
            provider="openai",
            field="params.provider_kwargs.endpoint",
        )
    return endpoint


def _issue(message: str, cid: str, field: str, *, content: bool = False) -> ValidationError:
    cls = UnsupportedContentError if content else ValidationError
    return cls(ValidationIssue(message, custom_id=cid, field=field), provider="openai")


def _system_text(sp: str | tuple[str, ...]) -> str:
    return sp if isinstance(sp, str) else "\n\n".join(sp)


# -- content parts -----------------------------------------------------------------------------


def _chat_part(part: Any, cid: str, field: str) -> dict[str, Any]:
    if type(part) is TextContent:
        return {"type": "text", "text": part.text}
    if isinstance(part, ImageContent):
        return {"type": "image_url", "image_url": {"url": part.data_url()}}
    if isinstance(part, AudioContent):
        fmt = _AUDIO_FORMATS.get(part.media_type or "")
        if part.data is None or fmt is None:
            raise _issue(
                "chat completions take audio as base64 WAV or MP3 data "
                f"(got {'a URL' if part.data is None else part.media_type})",
                cid,
                field,
                content=True,
            )
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": fmt}}
    if isinstance(part, DocumentContent):
        if part.data is None:
            raise _issue(
                "chat completions take PDFs as base64 data, not URLs (use the responses "
                "endpoint for file URLs)",
                cid,
                field,
                content=True,
            )
        return {"type": "file", "file": {"filename": "document.pdf", "file_data": part.data_url()}}
    raise _issue(f"unsupported content part {type(part).__name__}", cid, field, content=True)


def _responses_part(part: Any, cid: str, field: str) -> dict[str, Any]:
    if type(part) is TextContent:
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImageContent):
        return {"type": "input_image", "image_url": part.data_url(), "detail": "auto"}
    if isinstance(part, DocumentContent):
        if part.data is None:
            return {"type": "input_file", "file_url": part.url}
        return {"type": "input_file", "filename": "document.pdf", "file_data": part.data_url()}
    raise _issue(
        "the responses endpoint does not take audio input in batches", cid, field, content=True
    )


def _messages(req: InputRequest, part: Any) -> list[dict[str, Any]]:
    """Messages in OpenAI's shape; ``part`` converts one non-trivial content part for the
    endpoint."""
    out: list[dict[str, Any]] = []
    for mi, m in enumerate(req.messages):
        parts = m.contents
        text = plain_text(m)
        if text is not None:
            out.append({"role": m.role, "content": text})
            continue
        if any(type(p) in _TOOL_PARTS for p in parts):
            if part is not _chat_part:
                raise _issue(
                    "tool calls and results in a conversation go to chat completions",
                    req.custom_id,
                    f"messages[{mi}].contents",
                    content=True,
                )
            out.extend(with_kwargs(w, m) for w in _tool_messages(m.role, parts, req.custom_id, mi))
            continue
        if m.role != "user" and not m.is_text_only:
            raise _issue(
                "assistant messages can only hold text",
                req.custom_id,
                f"messages[{mi}].contents",
                content=True,
            )
        wire = {
            "role": m.role,
            "content": [
                with_kwargs(part(p, req.custom_id, f"messages[{mi}].contents[{ci}]"), p)
                for ci, p in enumerate(parts)
            ],
        }
        out.append(with_kwargs(wire, m))
    return out


_TOOL_PARTS = (ToolCallContent, ToolResultContent)


def _tool_messages(role: str, parts: Any, cid: str, mi: int) -> list[dict[str, Any]]:
    """A message with tool parts, OpenAI's way: an assistant message's calls in ``tool_calls``;
    each tool result its own ``tool`` message, the rest of a user message after them."""
    where = f"messages[{mi}].contents"
    calls = [p for p in parts if type(p) is ToolCallContent]
    results = [p for p in parts if type(p) is ToolResultContent]
    rest = [p for p in parts if type(p) not in _TOOL_PARTS]
    if calls and role != "assistant" or results and role != "user":
        raise _issue(
            "tool calls belong in assistant messages, tool results in user messages",
            cid,
            where,
            content=True,
        )
    if calls:
        if any(type(p) is not TextContent for p in rest):
            raise _issue("assistant messages can only hold text", cid, where, content=True)
        text = "\n".join(p.text for p in rest)
        return [
            {
                "role": "assistant",
                "content": text or None,
                "tool_calls": [
                    with_kwargs(
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {
                                "name": c.name,
                                "arguments": orjson.dumps(dict(c.arguments)).decode(),
                            },
                        },
                        c,
                    )
                    for c in calls
                ],
            }
        ]
    out: list[dict[str, Any]] = [
        with_kwargs({"role": "tool", "tool_call_id": r.tool_call_id, "content": r.content}, r)
        for r in results
    ]
    if rest:
        out.append(
            {
                "role": "user",
                "content": [
                    with_kwargs(_chat_part(p, cid, f"{where}[{i}]"), p) for i, p in enumerate(rest)
                ],
            }
        )
    return out


def _tools_body(params: InferenceParams) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if params.tools is not None:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in params.tools
        ]
    choice = params.tool_choice
    if choice is not None:
        body["tool_choice"] = (
            choice
            if choice in ("auto", "none", "required")
            else {"type": "function", "function": {"name": choice}}
        )
    return body


def _chat_messages(req: InputRequest, system: dict[str, Any] | None) -> list[dict[str, Any]]:
    msgs = _messages(req, _chat_part)
    return [system, *msgs] if system is not None else msgs


def _joined_text(req: InputRequest, what: str) -> str:
    for mi, m in enumerate(req.messages):
        if not m.is_text_only:
            raise _issue(
                f"{what} take text only", req.custom_id, f"messages[{mi}].contents", content=True
            )
    return "\n".join(m.text for m in req.messages)


# -- params --------------------------------------------------------------------------------------

_NOT_FOR_EMBEDDINGS = (
    "system_prompt",
    "max_output_tokens",
    "temperature",
    "top_p",
    "stop_sequences",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "output_schema",
    "tools",
    "tool_choice",
    "reasoning_effort",
)


@functools.lru_cache(maxsize=256)
def _takes_max_completion_tokens(model: str, patterns: tuple[str, ...]) -> bool:
    """Whether the model's chat completions name the token cap ``max_completion_tokens`` (cached:
    a batch whose requests carry their own settings asks once per request)."""
    return any(fnmatch.fnmatchcase(model, p) for p in patterns)


def body_params(
    params: InferenceParams, endpoint: str, settings: Mapping[str, Any], cid: str | None
) -> dict[str, Any]:
    """Everything in a body that comes from params, in OpenAI's names."""
    body: dict[str, Any] = {"model": params.model_id}
    where = "params."
    if endpoint == EMBEDDINGS:
        for name in _NOT_FOR_EMBEDDINGS:
            if getattr(params, name) is not None:
                raise _issue(f"{name} does not apply to embeddings", cid or "", where + name)
        if params.embedding_dimensions is not None:
            body["dimensions"] = params.embedding_dimensions
        body["encoding_format"] = "float"
    else:
        if params.embedding_dimensions is not None:
            raise _issue(
                "embedding_dimensions only applies to embedding batches",
                cid or "",
                where + "embedding_dimensions",
            )
        if params.max_output_tokens is not None:
            if endpoint == RESPONSES:
                key = "max_output_tokens"
            elif endpoint == CHAT and _takes_max_completion_tokens(
                str(params.model_id), tuple(settings.get("max_completion_tokens_models", ()))
            ):
                key = "max_completion_tokens"
            else:
                key = "max_tokens"
            body[key] = params.max_output_tokens
        for name in ("temperature", "top_p"):
            value = getattr(params, name)
            if value is not None:
                body[name] = value
        if endpoint == RESPONSES:
            for name in ("stop_sequences", "presence_penalty", "frequency_penalty", "seed"):
                if getattr(params, name) is not None:
                    raise _issue(
                        f"the responses endpoint has no {name}; use chat completions",
                        cid or "",
                        where + name,
                    )
            if params.system_prompt is not None:
                body["instructions"] = _system_text(params.system_prompt)
        else:
            for name in ("presence_penalty", "frequency_penalty", "seed"):
                value = getattr(params, name)
                if value is not None:
                    body[name] = value
            if params.stop_sequences is not None:
                body["stop"] = list(params.stop_sequences)
            if endpoint == COMPLETIONS and params.system_prompt is not None:
                raise _issue(
                    "completions have no system prompt; put it in the prompt",
                    cid or "",
                    where + "system_prompt",
                )
        if params.reasoning_effort is not None:
            if endpoint == RESPONSES:
                body["reasoning"] = {"effort": params.reasoning_effort}
            else:
                body["reasoning_effort"] = params.reasoning_effort
        if params.tools is not None or params.tool_choice is not None:
            if endpoint != CHAT:
                raise _issue("tools go to chat completions in batches", cid or "", where + "tools")
            body.update(_tools_body(params))
        schema = params.output_schema
        if schema is not None:
            if endpoint == COMPLETIONS:
                raise _issue(
                    "completions have no structured output; use chat completions",
                    cid or "",
                    where + "output_schema",
                )
            spec = {"name": schema.name, "schema": dict(schema.schema), "strict": schema.strict}
            if endpoint == RESPONSES:
                body["text"] = {"format": {"type": "json_schema", **spec}}
            else:
                body["response_format"] = {"type": "json_schema", "json_schema": spec}
    extra = {k: v for k, v in params.provider_kwargs.items() if k != "endpoint"}
    if extra.get("stream"):
        raise _issue("stream is not allowed in batches", cid or "", "params.provider_kwargs.stream")
    body.update(extra)
    return body


def system_message(params: InferenceParams, endpoint: str) -> dict[str, Any] | None:
    """The system message a chat body starts with, in OpenAI's words (None: none, or not chat)."""
    if endpoint != CHAT or params.system_prompt is None:
        return None
    return {"role": "system", "content": _system_text(params.system_prompt)}


def request_payload(
    req: InputRequest, endpoint: str, system: dict[str, Any] | None
) -> dict[str, Any]:
    """What a body holds of the request itself: its messages (after ``system``), its input, or
    its prompt, by endpoint."""
    if endpoint == CHAT:
        return {"messages": _chat_messages(req, system)}
    if endpoint == RESPONSES:
        return {"input": _messages(req, _responses_part)}
    if endpoint == EMBEDDINGS:
        return {"input": _joined_text(req, "embeddings")}
    return {"prompt": _joined_text(req, "completions")}


#: Turns an OpenAI batch line into a service's own (``{"custom_id", "body"}``, renamed fields...).
LineShape = Callable[[dict[str, Any]], dict[str, Any]]


def _as_is(line: dict[str, Any]) -> dict[str, Any]:
    return line


def _one_text_lines(
    line: dict[str, Any], system: dict[str, Any] | None, shape: LineShape
) -> OneTextLines:
    """One-user-text chat lines, cut around their custom_id and text (see core's ``fastjson``)."""
    msgs: list[Any] = [system] if system is not None else []
    msgs.append({"role": "user", "content": SENTINELS[1]})
    return OneTextLines(
        shape({**line, "custom_id": SENTINELS[0], "body": {**line["body"], "messages": msgs}})
    )


def batch_lines(
    batch: InputBatch,
    settings: Mapping[str, Any],
    *,
    url: str | None = None,
    provider: str = "openai",
    shape: LineShape = _as_is,
) -> Iterator[bytes]:
    """Yield one OpenAI batch input line per request, lazily, in input order.

    ``url`` is what the lines' ``url`` says (by default the OpenAI endpoint: a service may name
    it its own way); ``shape`` turns each line into the service's own form (it must keep the
    ``custom_id`` and the messages' text as they are); ``provider`` names the service in errors.
    """
    dumps = orjson.dumps
    params = batch.configured_params
    endpoint = endpoint_for(params)
    wire_url = endpoint if url is None else url
    body = body_params(params, endpoint, settings, None)
    system = system_message(params, endpoint)
    max_inputs = settings.get("max_embedding_inputs")
    line: dict[str, Any] = {"custom_id": None, "method": "POST", "url": wire_url, "body": body}
    # The most common request by far (one user text): splice the two strings that differ into
    # bytes serialised once for the whole batch.
    fast = _one_text_lines(line, system, shape) if endpoint == CHAT else None
    for req in batch.requests:
        if fast is not None and (text := one_user_text(req)) is not None:
            yield fast.line(req.custom_id, text)
            continue
        if req.params is not None:
            eff = batch.params_for(req)
            one = body_params(eff, endpoint, settings, req.custom_id)
            one.update(request_payload(req, endpoint, system_message(eff, endpoint)))
            yield dumps(
                shape({"custom_id": req.custom_id, "method": "POST", "url": wire_url, "body": one})
            )
            continue
        if endpoint == CHAT:
            body["messages"] = _chat_messages(req, system)
        else:
            body.update(request_payload(req, endpoint, system))
        line["custom_id"] = req.custom_id
        yield dumps(shape(line))
    if endpoint == EMBEDDINGS and max_inputs is not None and len(batch.requests) > max_inputs:
        raise ValidationError(
            f"embedding batches take at most {max_inputs} inputs",
            provider=provider,
            field="requests",
        )
