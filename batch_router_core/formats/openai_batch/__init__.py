"""The OpenAI batch line format, shared by every provider that speaks it.

OpenAI's Batch API, vLLM's ``run_batch`` and the OpenAI-compatible batch services all take input
lines ``{"custom_id", "method", "url", "body"}`` and answer ``{"custom_id", "response":
{"status_code", "body"}, "error"}``. ``requests`` turns unified batches into input lines;
``results`` turns output and error lines into unified results, including the dialects of
OpenAI-compatible servers (vLLM's nested error bodies and its older envelope-less output);
``calls`` sends the same bodies synchronously (``execute_now``) and reads the answers the same way;
``provider`` implements every hook for a service with OpenAI's Files and Batches API.
"""

from batch_router_core.formats.openai_batch.requests import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    RESPONSES,
    batch_lines,
    endpoint_for,
)
from batch_router_core.formats.openai_batch.results import parse_line

__all__ = [
    "CHAT",
    "COMPLETIONS",
    "EMBEDDINGS",
    "RESPONSES",
    "batch_lines",
    "endpoint_for",
    "parse_line",
]
