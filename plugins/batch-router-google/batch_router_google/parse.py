"""Gemini batch outputs (file lines and inline responses) -> unified results."""

from __future__ import annotations

from typing import Any

from batch_router_core import RequestError, RequestResult, ResultStatus
from batch_router_core.models import new_result, new_usage

__all__ = ["parse_item"]


def _int(value: Any) -> int:
    return int(value) if value is not None else 0  # int64 values arrive as JSON strings


def parse_item(cid: str, item: dict[str, Any], model: str | None = None) -> RequestResult:
    """One output (``{"response": ...}`` or ``{"error": ...}``, file line or inline) as a unified result."""
    err = item.get("error")
    if err:
        return new_result(cid, ResultStatus.ERRORED, "google", model, error=RequestError(
            message=err.get("message") or "error", code=str(err.get("status") or err.get("code") or ""),
            status_code=err.get("code") if isinstance(err.get("code"), int) else None), raw=item)
    resp = item.get("response") or {}
    emb = resp.get("embedding")
    if emb is not None:
        return new_result(cid, ResultStatus.SUCCEEDED, "google", model, None, tuple(emb.get("values", ())),
                          None, None, None, item)
    candidates = resp.get("candidates") or []
    text = None
    finish = None
    if candidates:
        first = candidates[0]
        parts = (first.get("content") or {}).get("parts") or []
        # Thought signatures and non-text parts are kept in raw; the answer is the text parts.
        text = "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
        finish = first.get("finishReason") or first.get("finish_reason")
    u = resp.get("usageMetadata") or resp.get("usage_metadata") or {}
    prompt = _int(u.get("promptTokenCount"))
    completion = _int(u.get("candidatesTokenCount")) + _int(u.get("thoughtsTokenCount"))
    usage = new_usage(prompt, completion, _int(u.get("totalTokenCount")) or prompt + completion,
                      _int(u["cachedContentTokenCount"]) if "cachedContentTokenCount" in u else None, None,
                      _int(u["thoughtsTokenCount"]) if "thoughtsTokenCount" in u else None) if u else None
    status = ResultStatus.SUCCEEDED if candidates else ResultStatus.ERRORED
    error = None if candidates else RequestError(
        message=str((resp.get("promptFeedback") or {}).get("blockReason") or "no candidates returned"),
        code="no_candidates")
    return new_result(cid, status, "google", resp.get("modelVersion", model), text, None, finish, usage,
                      error, item)
