"""Wire formats shared across providers and commands.

``unified``: batch-router's own JSONL of requests and results (what ``batch-router run`` reads and
writes). Provider-specific formats live in their plugins.
"""
