"""Helpers for writing provider JSONL fast, shared by plugins' ``prepare_payloads``.

Most lines of a batch differ from each other in two or three strings only (the ``custom_id`` and the
user's text); everything else (model, settings, system prompt) is the same for the whole batch.
:func:`split_template` serialises one template document once and cuts it where the per-request
values go, so a line is built by splicing ``orjson.dumps(value)`` between fixed byte strings:
exactly the bytes ``orjson.dumps`` would give for the full document, at a fraction of the cost.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["SENTINELS", "iter_jsonl_chunks", "split_template"]

#: Placeholder strings to put in a template where per-request values go (in the order they appear).
SENTINELS = ("\x00slot0\x00", "\x00slot1\x00", "\x00slot2\x00", "\x00slot3\x00")


def split_template(template: Any, slots: int) -> tuple[bytes, ...]:
    """Serialise ``template`` (holding ``SENTINELS[:slots]`` as string values, in document order)
    and return the ``slots + 1`` byte pieces around them.

    A line is then ``b"".join((p[0], dumps(v0), p[1], dumps(v1), ..., p[slots]))``.
    """
    raw = orjson.dumps(template)
    pieces: list[bytes] = []
    for sentinel in SENTINELS[:slots]:
        before, raw = raw.split(orjson.dumps(sentinel), 1)
        pieces.append(before)
    pieces.append(raw)
    return tuple(pieces)


async def iter_jsonl_chunks(chunks: Any) -> Any:
    """Parse JSONL arriving as an async iterable of byte chunks; yields one object per line.

    Splitting raw chunks here is several times cheaper per line than an HTTP client's text line
    iterator, which matters for result files of 50,000+ lines.
    """
    loads = orjson.loads
    carry = b""
    async for chunk in chunks:
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        for raw in lines:
            if raw.strip():
                yield loads(raw)
    if carry.strip():
        yield loads(carry)
