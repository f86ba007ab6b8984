"""The shared conformance suite, run against the Together emulator through ``together``."""

from batch_router_core.testing.conformance import conformance_suite

TestConformance = conformance_suite(
    "together", chat_model="meta-llama/Llama-3.3-70B-Instruct-Turbo"
)
