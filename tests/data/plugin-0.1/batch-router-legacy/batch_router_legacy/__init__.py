"""batch-router-legacy: the legacy provider plugin for batch-router."""

__version__ = "0.1.0"
