"""Per-part and per-message provider features: prompt-cache breakpoints and ``provider_kwargs``.

A content part may carry ``cache_breakpoint`` (``"5m"`` or ``"1h"``): the prompt up to and
including this part is worth caching for that long. Anthropic takes it as the block's
``cache_control``; OpenAI, Gemini and vLLM cache repeated prefixes on their own and have no wire
form for it, so there it changes nothing (it never changes a reply, only what the prompt costs).

``provider_kwargs`` on a part or a message are merged into that part's or message's wire object
for the batch's provider, after batch-router's own keys, as ``InferenceParams.provider_kwargs``
are into the request: an escape hatch for fields batch-router has no name for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from batch_router_core.errors import ValidationError

__all__ = ["CACHE_BREAKPOINTS", "cache_breakpoint_field", "kwargs_field", "with_kwargs"]

#: The cache lifetimes a breakpoint may ask for (Anthropic's two).
CACHE_BREAKPOINTS = ("5m", "1h")


def _check_breakpoint(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value not in CACHE_BREAKPOINTS:
        raise ValidationError(
            f"cache_breakpoint is one of {', '.join(CACHE_BREAKPOINTS)} (or absent), got {value!r}",
            field="cache_breakpoint",
        )


def _to_kwargs(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValidationError(
            f"provider_kwargs is an object of named fields, got {type(value).__name__}",
            field="provider_kwargs",
        )
    # An empty mapping asks for nothing: None keeps the plain-part fast paths open.
    return dict(value) or None


def cache_breakpoint_field() -> Any:
    """The ``cache_breakpoint`` attribute of a content part."""
    return attrs.field(default=None, validator=_check_breakpoint)


def kwargs_field() -> Any:
    """The ``provider_kwargs`` attribute of a content part or a message."""
    return attrs.field(default=None, converter=_to_kwargs)


def with_kwargs(wire: dict[str, Any], owner: Any) -> dict[str, Any]:
    """``wire`` (a part's or message's provider object) with ``owner.provider_kwargs`` merged
    in, theirs winning."""
    kwargs = owner.provider_kwargs
    if kwargs:
        wire.update(kwargs)
    return wire
