"""A local emulator of Anthropic's Message Batches API that the unmodified ``anthropic`` SDK works
against.

batch-router emulate anthropic --port 8081 ANTHROPIC_BASE_URL=http://127.0.0.1:8081
ANTHROPIC_API_KEY=anything python my_pipeline.py
"""

from .app import AnthropicEmulator, EmulatorState, create_app

__all__ = ["AnthropicEmulator", "EmulatorState", "create_app"]
