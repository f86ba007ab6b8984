"""batch-router provider plugin for Mistral AI's Batch API (entry point ``mistral``)."""

__version__ = "0.1.0"
