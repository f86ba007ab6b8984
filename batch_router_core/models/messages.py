"""A message: a role and its content parts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from batch_router_core.errors import ValidationError
from batch_router_core.models.content import (
    AudioContent,
    Content,
    DocumentContent,
    ImageContent,
    TextContent,
)
from batch_router_core.models.enums import InputMessageRole
from batch_router_core.models.extras import kwargs_field
from batch_router_core.models.tools import ToolCallContent, ToolResultContent

__all__ = ["InputMessage"]

_CONTENT_CLASSES = (
    TextContent,
    ImageContent,
    AudioContent,
    DocumentContent,
    ToolCallContent,
    ToolResultContent,
)


def _to_contents(value: Iterable[Content] | str) -> tuple[Content, ...]:
    if isinstance(value, str):
        return (TextContent(text=value),)
    return tuple(value)


def _check_contents(inst: InputMessage, attribute: object, value: tuple[Content, ...]) -> None:
    if not value:
        raise ValidationError("a message needs at least one content part", field="contents")
    for i, part in enumerate(value):
        if not isinstance(part, _CONTENT_CLASSES):
            raise ValidationError(
                "expected a content part (TextContent, ImageContent, AudioContent, "
                f"DocumentContent, ToolCallContent, ToolResultContent), got {type(part).__name__}",
                field=f"contents[{i}]",
            )


def _to_role(value: InputMessageRole | str) -> InputMessageRole:
    if type(value) is InputMessageRole:
        return value
    try:
        return InputMessageRole(value)
    except ValueError:
        hint = (
            " (the system prompt goes in InferenceParams.system_prompt)"
            if value == "system"
            else ""
        )
        raise ValidationError(
            f"role must be 'user' or 'assistant', got {value!r}{hint}", field="role"
        ) from None


@attrs.frozen(kw_only=True)
class InputMessage:
    """One turn of a conversation. ``contents`` may be given as a plain string for text."""

    role: InputMessageRole = attrs.field(converter=_to_role)
    contents: tuple[Content, ...] = attrs.field(converter=_to_contents, validator=_check_contents)
    #: Merged into this message's wire object for the batch's provider.
    provider_kwargs: Mapping[str, Any] | None = kwargs_field()

    @classmethod
    def user(cls, text: str) -> InputMessage:
        """A user message holding one text part."""
        return cls(role=InputMessageRole.USER, contents=(TextContent(text=text),))

    @classmethod
    def assistant(cls, text: str) -> InputMessage:
        """An assistant message holding one text part."""
        return cls(role=InputMessageRole.ASSISTANT, contents=(TextContent(text=text),))

    @property
    def is_text_only(self) -> bool:
        """True when every part is text."""
        return all(type(c) is TextContent for c in self.contents)

    @property
    def is_plain_text(self) -> bool:
        """True when every part is text with nothing else asked of it (no cache breakpoint, no
        provider_kwargs, here or on the message): what a provider may send as a plain string."""
        return self.provider_kwargs is None and all(
            type(c) is TextContent and c.cache_breakpoint is None and c.provider_kwargs is None
            for c in self.contents
        )

    @property
    def text(self) -> str:
        """The text parts joined with newlines (non-text parts are left out)."""
        return "\n".join(c.text for c in self.contents if type(c) is TextContent)
