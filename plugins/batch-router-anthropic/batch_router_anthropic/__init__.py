"""batch-router-anthropic: Anthropic Message Batches as a batch-router provider plugin.

Importing this package (as discovery does) does not import the ``anthropic`` SDK.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The synchronous provider's published name, built lazily.
    if name == "AnthropicProvider":
        from batch_router_core.jobs.sync import Provider

        class AnthropicProvider(Provider):
            """The synchronous Anthropic provider (``send_batch`` / ``poll_status`` /
            ``get_results``)."""

            provider_name = "anthropic"

        globals()[name] = AnthropicProvider
        return AnthropicProvider
    raise AttributeError(name)
