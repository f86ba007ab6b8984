"""Deterministic stand-in answers for emulators: text derived from the prompt, realistic token
counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from batch_router_core.cost.tokens import token_counter

__all__ = [
    "NONCONFORMING_MARKER",
    "NONCONFORMING_REPLY",
    "estimate_tokens",
    "prompt_tokens",
    "reply_to",
    "schema_reply",
    "structured_reply",
    "tool_to_call",
]


def prompt_tokens(text: str, provider: str, model: str) -> int:
    """Prompt tokens as the emulators report them: counted with the tokenizer that cost estimates
    use, where it is installed, so an estimate can be checked offline; else
    :func:`estimate_tokens`."""
    counter = token_counter(provider, model)
    return counter.count(text) if counter.tokenizer else estimate_tokens(text)


def estimate_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer gives for English text (~0.75 words per token), at least 1."""
    return max(1, round(len(text.split()) * 4 / 3))


def reply_to(prompt: str, limit: int | None) -> tuple[str, bool, int]:
    """``(text, truncated, output_tokens)`` of the emulated answer to ``prompt``.

    The answer echoes the start of the prompt, so tests can tell requests apart; ``limit`` (a max
    output token count) truncates it like a real model stopping at its token limit.
    """
    words = prompt.split()
    text = "Emulated answer to: " + " ".join(words[:24]) if words else "Emulated answer."
    tokens = estimate_tokens(text)
    if limit is not None and tokens > limit:
        return " ".join(text.split()[: max(1, int(limit * 3 / 4))]), True, limit
    return text, False, tokens


def structured_reply(schema: Mapping[str, Any], prompt: str) -> str:
    """A reply to ``prompt`` as JSON conforming to ``schema`` (deterministic: the same prompt gives
    the same reply; strings echo the prompt's start, so tests can tell requests apart)."""
    return orjson.dumps(_instance(schema, schema, prompt, 0)).decode()


#: What an emulator answers, for requests told to fail their schema: valid JSON, wrong shape.
NONCONFORMING_REPLY = '{"unexpected": "this reply ignores the schema"}'

#: A prompt containing this gets :data:`NONCONFORMING_REPLY` instead of a conforming one, so tests
#: can see how a batch reports replies that miss their schema.
NONCONFORMING_MARKER = "[emulator: ignore the schema]"


def schema_reply(schema: Any, prompt: str) -> tuple[str, int]:
    """``(reply, output_tokens)`` of an emulator asked for structured output: JSON conforming to
    ``schema``, or :data:`NONCONFORMING_REPLY` for a prompt carrying
    :data:`NONCONFORMING_MARKER`."""
    if NONCONFORMING_MARKER in prompt or not isinstance(schema, Mapping):
        text = NONCONFORMING_REPLY
    else:
        text = structured_reply(schema, prompt)
    return text, estimate_tokens(text.replace(",", " "))


def _instance(node: Any, root: Mapping[str, Any], prompt: str, depth: int) -> Any:
    if not isinstance(node, Mapping) or depth > 12:
        return None
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, Mapping) else {}
        return _instance(target, root, prompt, depth + 1)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][len(prompt) % len(node["enum"])]
    for key in ("anyOf", "oneOf", "allOf"):
        options = node.get(key)
        if options:
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            return _instance(chosen, root, prompt, depth + 1)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in node):
        props = node.get("properties") or {}
        return {k: _instance(v, root, prompt, depth + 1) for k, v in props.items()}
    if kind == "array":
        count = max(1, int(node.get("minItems", 1)))
        return [_instance(node.get("items") or {}, root, prompt, depth + 1) for _ in range(count)]
    if kind == "integer" or kind == "number":
        low = node.get("minimum", node.get("exclusiveMinimum", 0))
        high = node.get("maximum", node.get("exclusiveMaximum", low + 100))
        value = low + len(prompt) % max(1, int(high - low) or 1)
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            value = node["exclusiveMinimum"] + 1
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return len(prompt) % 2 == 0
    if kind == "null":
        return None
    words = " ".join(prompt.split()[:8]) or "emulated"
    text = f"Emulated {words}"
    low = int(node.get("minLength", 0))
    high = node.get("maxLength")
    if len(text) < low:
        text = text.ljust(low, ".")
    return text[: int(high)] if high is not None else text


def tool_to_call(
    tools: list[tuple[str, Any]], choice: str | None, prompt: str
) -> tuple[str, dict[str, Any]] | None:
    """``(tool name, arguments)`` of the call an emulator answers with, or None for a text reply.

    ``tools`` are ``(name, JSON Schema of the arguments)``; ``choice`` is ``none``, ``auto``,
    ``required`` or a tool's name (None: ``auto``). With tools and any choice but ``none`` the
    emulated model calls one (the named one, else the first), its arguments conforming to that
    tool's schema, derived from the prompt as structured replies are.
    """
    if not tools or choice == "none":
        return None
    name, schema = next(((n, s) for n, s in tools if n == choice), tools[0])
    value = _instance(schema, schema, prompt, 0) if isinstance(schema, Mapping) else {}
    return name, value if isinstance(value, dict) else {}
