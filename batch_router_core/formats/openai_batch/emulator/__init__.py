"""An emulator of OpenAI's Files and Batches API, and the base of every emulator of a service
that copied it (needs the ``emulator`` extra: starlette).

``create_app()`` is OpenAI's; Azure OpenAI's and Groq's subclass :class:`OpenAIEmulator`.
"""

from batch_router_core.formats.openai_batch.emulator.app import OpenAIEmulator, create_app
from batch_router_core.formats.openai_batch.emulator.state import EmulatorState

__all__ = ["EmulatorState", "OpenAIEmulator", "create_app"]
