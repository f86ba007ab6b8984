"""Deterministic stand-in answers for emulators: text derived from the prompt, realistic token
counts."""

from __future__ import annotations

__all__ = ["estimate_tokens", "reply_to"]


def estimate_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer gives for English text (~0.75 words per token), at least 1."""
    return max(1, round(len(text.split()) * 4 / 3))


def reply_to(prompt: str, limit: int | None) -> tuple[str, bool, int]:
    """``(text, truncated, output_tokens)`` of the emulated answer to ``prompt``.

    The answer echoes the start of the prompt, so tests can tell requests apart; ``limit`` (a max
    output token count) truncates it like a real model stopping at its token limit.
    """
    words = prompt.split()
    text = "Emulated answer to: " + " ".join(words[:24]) if words else "Emulated answer."
    tokens = estimate_tokens(text)
    if limit is not None and tokens > limit:
        return " ".join(text.split()[: max(1, int(limit * 3 / 4))]), True, limit
    return text, False, tokens
