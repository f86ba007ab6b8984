"""batch-router-google: Gemini batch mode as a batch-router provider plugin.

Importing this package (as discovery does) does not import the ``google-genai`` SDK.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The synchronous provider's published name, built lazily.
    if name == "GoogleGenAIProvider":
        from batch_router_core.jobs.sync import Provider

        class GoogleGenAIProvider(Provider):
            """The synchronous Google GenAI provider (``send_batch`` / ``poll_status`` /
            ``get_results``)."""

            provider_name = "google"

        globals()[name] = GoogleGenAIProvider
        return GoogleGenAIProvider
    raise AttributeError(name)
