"""The shared conformance suite, run against the Azure emulator through ``AzureOpenAI``."""

from batch_router_core.testing.conformance import conformance_suite

TestConformance = conformance_suite(
    "azure", chat_model="gpt-4o-mini", embedding_model="text-embedding-3-small"
)
