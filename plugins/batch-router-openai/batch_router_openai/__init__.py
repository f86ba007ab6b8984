"""batch-router-openai: the OpenAI Batch API as a batch-router provider plugin.

Importing this package (as discovery does) does not import the ``openai`` SDK; the SDK is loaded on
the first network call.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The synchronous provider's published name, built lazily so importing the package stays
    # cheap.
    if name == "OpenAIChatCompletionsProvider":
        from batch_router_core.jobs.sync import Provider

        class OpenAIChatCompletionsProvider(Provider):
            """The synchronous OpenAI provider (``send_batch`` / ``poll_status`` /
            ``get_results``)."""

            provider_name = "openai"

        globals()[name] = OpenAIChatCompletionsProvider
        return OpenAIChatCompletionsProvider
    raise AttributeError(name)
