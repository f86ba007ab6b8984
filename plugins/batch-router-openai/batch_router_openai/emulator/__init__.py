"""A local emulator of the OpenAI Batch API that the unmodified ``openai`` SDK works against.

    batch-router emulate openai --port 8080
    OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_API_KEY=anything python my_pipeline.py

In tests: ``serve_in_thread(create_app())`` from :mod:`batch_router_core.emulation.server`. The
emulator lives in core (:mod:`batch_router_core.formats.openai_batch.emulator`) because the
services that copied OpenAI's batch API (Azure OpenAI, Groq) are emulated by subclasses of it.
"""

from batch_router_core.formats.openai_batch.emulator import (
    EmulatorState,
    OpenAIEmulator,
    create_app,
)

__all__ = ["EmulatorState", "OpenAIEmulator", "create_app"]
