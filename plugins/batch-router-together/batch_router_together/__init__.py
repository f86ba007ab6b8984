"""batch-router provider plugin for Together AI's Batch API (entry point ``together``)."""

__version__ = "0.1.0"
