"""batch-router-openai: the OpenAI Batch API as a batch-router provider plugin.

Importing this package (as discovery does) does not import the ``openai`` SDK; the SDK is loaded on
the first network call.
"""

from batch_router_core.jobs import sync_provider_alias

__version__ = "0.1.0"


# The synchronous provider's published name, built on first use.
__getattr__ = sync_provider_alias("OpenAIChatCompletionsProvider", "openai")
