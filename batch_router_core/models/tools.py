"""Tools: what a model may call, the calls it makes, and their results in a conversation.

One shape on every provider. A :class:`Tool` is a name, a description and a JSON Schema for its
arguments; ``InferenceParams.tool_choice`` says whether the model may (``auto``), must
(``required``), must not (``none``) or must call one named tool. A reply's calls come back as
:class:`ToolCall` s in ``RequestResult.tool_calls`` (OpenAI ``tool_calls``, Anthropic ``tool_use``
blocks, Gemini ``functionCall`` parts); a second round sends them back as :class:`ToolCallContent`
parts of an assistant message, followed by a user message of :class:`ToolResultContent` parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import attrs

from batch_router_core.errors import ValidationError
from batch_router_core.models.extras import cache_breakpoint_field, kwargs_field

__all__ = [
    "TOOL_CHOICES",
    "Tool",
    "ToolCall",
    "ToolCallContent",
    "ToolResultContent",
    "tools_tuple",
]

#: The tool choices every provider understands; any other value names the one tool to call.
TOOL_CHOICES = ("auto", "none", "required")


def _name(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValidationError(
            f"a tool name is 1-64 characters, got {value!r}", field=f"tools.{attribute.name}"
        )
    if not all(c.isalnum() or c in "_-" for c in value):
        raise ValidationError(
            f"a tool name has only letters, digits, _ and - (every provider's rule), got {value!r}",
            field="tools.name",
        )


def _object_schema(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Mapping) or value.get("type") != "object":
        raise ValidationError(
            'a tool\'s parameters are a JSON Schema object ("type": "object")',
            field="tools.parameters",
        )


def _as_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


@attrs.frozen(kw_only=True)
class Tool:
    """A function the model may call.

    :param name: letters, digits, ``_`` and ``-``, up to 64 characters.
    :param description: what it does and when to call it (models read it).
    :param parameters: a JSON Schema object for its arguments.
    """

    name: str = attrs.field(validator=_name)
    description: str = ""
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}},
        converter=_as_dict,
        validator=_object_schema,
    )


def tools_tuple(value: Any) -> tuple[Tool, ...] | None:
    """``InferenceParams.tools`` from tools, dicts in the same shape, or None."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise ValidationError("tools must be a list of tools", field="tools")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, Tool):
            out.append(item)
        elif isinstance(item, Mapping):
            unknown = set(item) - {"name", "description", "parameters"}
            if unknown:
                raise ValidationError(
                    f"unknown tool field(s) {sorted(unknown)}", field=f"tools[{i}]"
                )
            out.append(Tool(**item))
        else:
            raise ValidationError(f"not a tool: {item!r}", field=f"tools[{i}]")
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ValidationError(f"tool names repeat: {names}", field="tools")
    return tuple(out)


@attrs.frozen(kw_only=True)
class ToolCall:
    """A call the model made: its id (to answer it with), the tool and the parsed arguments.

    ``arguments`` is None when the provider's arguments were not a JSON object (OpenAI sends them
    as a string the model wrote); ``arguments_text`` then holds what came.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] | None
    arguments_text: str | None = None


@attrs.frozen(kw_only=True)
class ToolCallContent:
    """A tool call in an assistant message of a conversation (a model's earlier call)."""

    type: ClassVar[Literal["tool_call"]] = "tool_call"
    id: str
    name: str
    arguments: Mapping[str, Any] = attrs.field(factory=dict, converter=_as_dict)
    cache_breakpoint: Literal["5m", "1h"] | None = cache_breakpoint_field()
    provider_kwargs: Mapping[str, Any] | None = kwargs_field()


@attrs.frozen(kw_only=True)
class ToolResultContent:
    """A tool's result, answering the call ``tool_call_id`` (in a user message).

    :param name: the tool's name (Gemini matches results to calls by it).
    :param content: the result as text (JSON text for structured results).
    :param is_error: the tool failed; ``content`` says how.
    """

    type: ClassVar[Literal["tool_result"]] = "tool_result"
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    cache_breakpoint: Literal["5m", "1h"] | None = cache_breakpoint_field()
    provider_kwargs: Mapping[str, Any] | None = kwargs_field()
