"""The shared conformance suite, run against the Anthropic emulator (one line enables it)."""

from batch_router_core.testing.conformance import conformance_suite

TestConformance = conformance_suite("anthropic", chat_model="claude-sonnet-4-5")
