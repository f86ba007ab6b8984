"""batch-router provider plugin for Azure OpenAI's Batch API (entry point ``azure``)."""

__version__ = "0.1.0"
