"""A local emulator of Gemini batch mode that the unmodified ``google-genai`` SDK works against.

batch-router emulate google --port 8082 GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8082
GOOGLE_API_KEY=anything python my_pipeline.py
"""

from .app import EmulatorState, GoogleEmulator, create_app

__all__ = ["EmulatorState", "GoogleEmulator", "create_app"]
