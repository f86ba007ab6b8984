"""batch-router-openai: the OpenAI Batch API as a batch-router provider plugin.

Importing this package (as discovery does) does not import the ``openai`` SDK; the SDK is loaded on
the first network call.
"""

__version__ = "0.1.0"
