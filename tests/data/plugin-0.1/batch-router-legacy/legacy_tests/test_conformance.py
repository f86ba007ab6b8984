"""legacy: batch-router's conformance suite, through the plugin, against its emulator over HTTP.

The one line below enables every scenario (happy path, rate limits, auth failure, expiry, partial
failure, cancel, lookup by tag, and one test per declared capability). To override a suite test,
subclass and decorate the override with ``@override("why")``; an override without a reason fails.
"""

from batch_router_core.testing.conformance import conformance_suite

TestConformance = conformance_suite("legacy", chat_model="legacy-small")
