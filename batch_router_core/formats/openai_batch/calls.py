"""Calls made now (``execute_now``) with the bodies batch lines carry, and their answers as results.

Services with OpenAI's batch API also answer the same bodies synchronously; a small online group is
sent that way. These helpers keep the bodies and the results the same as the batch path's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from batch_router_core.formats.openai_batch.requests import (
    body_params,
    request_payload,
    system_message,
)
from batch_router_core.formats.openai_batch.results import parse_line
from batch_router_core.plugin import InferenceParams, InputRequest, RequestResult

__all__ = ["answer", "call_bodies", "embedding_answers", "shares"]


def shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders first): the shares add up
    to ``total`` exactly."""
    if not sum(weights):
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    out = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: out[i] - exact[i])
    for i in by_remainder[: total - sum(out)]:
        out[i] += 1
    return out


def call_bodies(
    params: InferenceParams, endpoint: str, settings: Mapping[str, Any]
) -> Callable[[InputRequest], dict[str, Any]]:
    """A function giving each request's body as its batch line would carry it (the group's
    settings are converted once)."""
    base = body_params(params, endpoint, settings, None)
    system = system_message(params, endpoint)
    return lambda req: {**base, **request_payload(req, endpoint, system)}


def answer(custom_id: str, body: dict[str, Any], model: str, provider: str) -> RequestResult:
    """A synchronous answer's body as the unified result a batch output line with it would give."""
    line = {"custom_id": custom_id, "response": {"status_code": 200, "body": body}}
    return parse_line(line, model, provider=provider)


def embedding_answers(
    requests: Sequence[InputRequest],
    texts: Sequence[str],
    response: dict[str, Any],
    model: str,
    provider: str,
) -> list[RequestResult]:
    """One embeddings call's response for several inputs as one result per request.

    The call reports one usage for every input: each result gets its share (by length), so that
    the results' usage adds up to the call's.
    """
    total = int((response.get("usage") or {}).get("prompt_tokens") or 0)
    items = sorted(response["data"], key=lambda d: d["index"])
    split = shares(total, [len(t) for t in texts])
    return [
        answer(
            req.custom_id,
            {**response, "data": [item], "usage": {"prompt_tokens": n, "total_tokens": n}},
            model,
            provider,
        )
        for req, item, n in zip(requests, items, split, strict=True)
    ]
