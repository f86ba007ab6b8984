"""The shared conformance suite, run against the Mistral emulator through ``mistralai``."""

from batch_router_core.testing.conformance import conformance_suite

TestConformance = conformance_suite(
    "mistral", chat_model="mistral-small-latest", embedding_model="mistral-embed"
)
