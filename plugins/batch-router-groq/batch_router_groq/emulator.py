"""A local emulator of Groq's Batch API that the unmodified ``groq`` SDK works against.

    batch-router emulate groq --port 8080
    GROQ_BASE_URL=http://127.0.0.1:8080 GROQ_API_KEY=anything python my_pipeline.py

It is the OpenAI emulator where Groq differs: routes under ``/openai/v1``, chat completions only,
completion windows from ``24h`` to ``7d`` (a batch expires at the end of the one it asked for),
lists in one page, Groq's 401.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from batch_router_core.emulation.base import state_options
from batch_router_core.formats.openai_batch.emulator import EmulatorState, OpenAIEmulator
from batch_router_core.formats.openai_batch.emulator.app import STATE_OPTIONS, openai_error
from batch_router_core.formats.openai_batch.provider import window_hours

__all__ = ["GroqEmulator", "create_app"]

CHAT = "/v1/chat/completions"


class GroqEmulator(OpenAIEmulator):
    """Groq's Files and Batches routes and its chat endpoint."""

    prefix = "/openai/v1"

    def window_seconds(self, window: object) -> float | str | None:
        """``24h`` to ``7d``, in hours or days."""
        hours = window_hours(window) if isinstance(window, str) else None
        if hours is None or not 24 <= hours <= 168:
            return "durations from '24h' to '7d' are supported."
        return hours * 3600.0

    def list_page(self, request: Request) -> tuple[int, str | None] | Response:
        """Every batch in one answer."""
        return max(1, len(self.state.batches)), None

    def sync_routes(self) -> list[BaseRoute]:
        """Chat completions, answered as OpenAI's."""
        return [Route(f"{self.prefix}/chat/completions", self.sync_call, methods=["POST"])]

    def sync_endpoint(self, request: Request) -> str:
        """Chat completions is the one endpoint."""
        return CHAT

    def unauthorized(self, key: str) -> Response:
        """Groq's 401."""
        return openai_error(401, "Invalid API Key", code="invalid_api_key")


def create_app(options: dict[str, Any] | None = None) -> GroqEmulator:
    """Build the emulator (the OpenAI emulator's options: ``speed``, ``api_key``, timings,
    limits)."""
    kwargs = state_options(options, STATE_OPTIONS)
    return GroqEmulator(EmulatorState(endpoints={CHAT: CHAT}, **kwargs))
