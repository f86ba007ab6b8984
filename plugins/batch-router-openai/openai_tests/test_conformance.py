"""The shared conformance suite, run against the OpenAI emulator (one line enables it)."""

from batch_router_core.testing.conformance import conformance_suite

TestConformance = conformance_suite(
    "openai", chat_model="gpt-4o-mini", embedding_model="text-embedding-3-small"
)
