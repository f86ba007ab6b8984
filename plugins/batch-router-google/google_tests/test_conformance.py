"""The shared conformance suite, run against the Google GenAI emulator (one line enables it)."""

from batch_router_core.testing.conformance import conformance_suite

TestConformance = conformance_suite(
    "google", chat_model="gemini-2.5-flash", embedding_model="gemini-embedding-001"
)
