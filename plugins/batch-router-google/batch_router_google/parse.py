"""Gemini batch outputs (file lines and inline responses) -> unified results.

Token counts are int64 and may arrive as JSON strings: they go through ``int()``.
"""

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

__all__ = ["parse_item"]


def parse_item(cid: str, item: dict[str, Any], model: str | None = None) -> RequestResult:
    """One output (``{"response": ...}`` or ``{"error": ...}``, file line or inline) as a unified
    result."""
    err = item.get("error")
    if err:
        return new_result(
            cid,
            ResultStatus.ERRORED,
            "google",
            model,
            error=RequestError(
                message=err.get("message") or "error",
                code=str(err.get("status") or err.get("code") or ""),
                status_code=err.get("code") if isinstance(err.get("code"), int) else None,
            ),
            raw=item,
        )
    resp = item.get("response") or {}
    emb = resp.get("embedding")
    if emb is not None:
        return new_result(
            cid,
            ResultStatus.SUCCEEDED,
            "google",
            model,
            None,
            tuple(emb.get("values", ())),
            None,
            None,
            None,
            item,
        )
    candidates = resp.get("candidates")
    if not candidates:
        return new_result(
            cid,
            ResultStatus.ERRORED,
            "google",
            resp.get("modelVersion", model),
            error=RequestError(
                message=str(
                    (resp.get("promptFeedback") or {}).get("blockReason")
                    or "no candidates returned"
                ),
                code="no_candidates",
            ),
            raw=item,
        )
    first = candidates[0]
    parts: list[Any] = (first.get("content") or {}).get("parts") or []
    calls: tuple[ToolCall, ...] | None = None
    if len(parts) == 1 and "text" in parts[0]:
        text = parts[0]["text"]
    else:
        # Thought signatures and non-text parts stay in raw; the answer is the text parts.
        text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
        found = [p.get("functionCall") or p.get("function_call") for p in parts]
        calls = (
            tuple(
                # Gemini gives a call an id only sometimes: its position names it otherwise.
                ToolCall(
                    id=f.get("id") or f"call_{i}",
                    name=f.get("name", ""),
                    arguments=f.get("args") or {},
                )
                for i, f in enumerate(x for x in found if x)
            )
            or None
        )
    u = resp.get("usageMetadata")
    usage = None
    if u:
        prompt = int(u.get("promptTokenCount", 0))
        thoughts = u.get("thoughtsTokenCount")
        completion = int(u.get("candidatesTokenCount", 0)) + (int(thoughts) if thoughts else 0)
        cached = u.get("cachedContentTokenCount")
        usage = new_usage(
            prompt,
            completion,
            int(u.get("totalTokenCount") or prompt + completion),
            int(cached) if cached is not None else None,
            None,
            int(thoughts) if thoughts is not None else None,
        )
    return new_result(
        cid,
        ResultStatus.SUCCEEDED,
        "google",
        resp.get("modelVersion", model),
        text,
        None,
        first.get("finishReason"),
        usage,
        None,
        item,
        None,
        calls,
    )
