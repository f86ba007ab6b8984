"""batch-router provider plugin for Groq's Batch API (entry point ``groq``)."""

__version__ = "0.1.0"
