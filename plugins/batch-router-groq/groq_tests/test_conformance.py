"""The shared conformance suite, run against the Groq emulator through the ``groq`` SDK."""

from batch_router_core.testing.conformance import conformance_suite

TestConformance = conformance_suite("groq", chat_model="openai/gpt-oss-20b")
