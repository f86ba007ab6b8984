"""Wire formats shared across providers and commands.

``unified``: batch-router's own JSONL of requests and results (what ``batch-router run`` reads and
writes). ``openai_batch``: the OpenAI batch line format that OpenAI, vLLM and the
OpenAI-compatible services share. A format only one provider speaks lives in its plugin.
"""
