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

from batch_router_core.models.content import TextContent
from batch_router_core.models.enums import InputMessageRole
from batch_router_core.models.messages import InputMessage
from batch_router_core.models.requests import InputRequest

__all__ = [
    "SENTINELS",
    "OneTextLines",
    "iter_jsonl_chunks",
    "one_user_text",
    "plain_text",
    "split_template",
]

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


_USER = InputMessageRole.USER


def one_user_text(request: InputRequest) -> str | None:
    """The text of a request that is one user message of one plain text part (no cache breakpoint,
    no provider_kwargs) and has no params of its own (by far the most common request), else
    None."""
    # Called once per request on the prepare hot path: plain attribute reads, no helpers.
    if request.params is None:
        messages = request.messages
        if len(messages) == 1:
            message = messages[0]
            parts = message.contents
            if len(parts) == 1 and message.role is _USER and message.provider_kwargs is None:
                part = parts[0]
                if (
                    type(part) is TextContent
                    and part.cache_breakpoint is None
                    and part.provider_kwargs is None
                ):
                    return part.text
    return None


class OneTextLines:
    """The lines of one-user-text requests, spliced into a template serialised once per batch.

    ``template`` is the provider's line for such a request with ``SENTINELS[0]`` where the
    ``custom_id`` goes and ``SENTINELS[1]`` where the text goes (in that document order)::

        fast = OneTextLines({"custom_id": SENTINELS[0], "params": {**base, "messages": [
            {"role": "user", "content": SENTINELS[1]}]}})
        for req in batch.requests:
            text = one_user_text(req)
            if text is not None:
                yield fast.line(req.custom_id, text)

    ``line(custom_id, text)`` is exactly ``orjson.dumps`` of the template with both values in place.
    """

    __slots__ = ("line",)

    def __init__(self, template: Any) -> None:
        head, mid, tail = split_template(template, 2)

        # A closure over locals: the hot path pays no attribute or global lookups.
        def line(
            custom_id: str, text: str, join: Any = b"".join, dumps: Any = orjson.dumps
        ) -> bytes:
            return join((head, dumps(custom_id), mid, dumps(text), tail))  # type: ignore[no-any-return]

        self.line = line


def plain_text(message: InputMessage) -> str | None:
    """The text of a message of one plain text part (no cache breakpoint, no provider_kwargs on
    the part or the message), which providers take as a bare string; else None."""
    parts = message.contents
    if len(parts) == 1 and message.provider_kwargs is None:
        part = parts[0]
        if type(part) is TextContent and part.cache_breakpoint is None and not part.provider_kwargs:
            return part.text
    return None


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
