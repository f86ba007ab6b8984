"""Entry-point module of the fake provider: core's in-memory test provider."""

from batch_router_core.testing.fake_provider import plugin

__all__ = ["plugin"]
