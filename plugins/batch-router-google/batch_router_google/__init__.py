"""batch-router-google: Gemini batch mode as a batch-router provider plugin.

Importing this package (as discovery does) does not import the ``google-genai`` SDK.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Seed 001's name for the synchronous provider, built lazily.
    if name == "GoogleGenAIProvider":
        from batch_router_core.jobs.sync import Provider

        class GoogleGenAIProvider(Provider):
            """The synchronous Google GenAI provider of seed 001."""

            provider_name = "google"

        globals()[name] = GoogleGenAIProvider
        return GoogleGenAIProvider
    raise AttributeError(name)
