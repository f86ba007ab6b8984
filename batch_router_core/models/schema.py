"""Structured output: the JSON Schema a reply must conform to, however the user wrote it down.

A schema is given as a JSON Schema dict, a Pydantic model class (its ``model_json_schema()``) or an
attrs class (a schema derived from its annotated fields); :class:`OutputSchema` keeps the schema
itself, so that it is stored with a job and read back by any process. Each plugin converts it to its
provider's form (OpenAI ``response_format``, Anthropic ``output_format``, Gemini
``responseJsonSchema``); the router checks every reply against it (:mod:`jsonschema`), so a reply
that does not conform is never passed on as a success.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from batch_router_core.errors import ValidationError

__all__ = ["OutputSchema", "output_schema"]


def _schema_dict(value: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"a schema must be a JSON Schema object, got {type(value).__name__}",
            field="output_schema.schema",
        )
    return dict(value)


@attrs.frozen(kw_only=True)
class OutputSchema:
    """The JSON Schema a reply must conform to.

    :param schema: the JSON Schema (an object schema for every provider's structured output).
    :param name: the schema's name where a provider asks for one (OpenAI's ``json_schema.name``).
    :param strict: ask for strict adherence where the provider offers it (OpenAI ``strict``).
    """

    schema: Mapping[str, Any] = attrs.field(converter=_schema_dict)
    name: str = "output"
    strict: bool = True

    def __attrs_post_init__(self) -> None:
        import jsonschema

        try:
            jsonschema.validators.validator_for(self.schema).check_schema(dict(self.schema))
        except jsonschema.SchemaError as exc:
            raise ValidationError(
                f"not a valid JSON Schema: {exc.message}", field="output_schema.schema"
            ) from None
        if self.schema.get("type") != "object":
            raise ValidationError(
                'structured output needs an object schema ("type": "object") at the top',
                field="output_schema.schema",
            )


def output_schema(source: OutputSchema | Mapping[str, Any] | type | None) -> OutputSchema | None:
    """An :class:`OutputSchema` from a JSON Schema dict, a Pydantic model class or an attrs class
    (None stays None)."""
    if source is None or isinstance(source, OutputSchema):
        return source
    if isinstance(source, Mapping):
        if (
            isinstance(source.get("schema"), Mapping)
            and set(source) <= {"schema", "name", "strict"}
            and "type" not in source
        ):
            # The stored form of an OutputSchema (a job read back from the ledger); a JSON
            # Schema always has its "type" at the top (checked below), so the two never meet.
            return OutputSchema(
                schema=source["schema"],
                name=str(source.get("name", "output")),
                strict=bool(source.get("strict", True)),
            )
        return OutputSchema(schema=source)
    if isinstance(source, type):
        json_schema = getattr(source, "model_json_schema", None)
        if callable(json_schema):  # a Pydantic model
            return OutputSchema(schema=_closed(json_schema()), name=source.__name__)
        if attrs.has(source):
            return OutputSchema(schema=_attrs_schema(source), name=source.__name__)
    raise ValidationError(
        "output_schema must be a JSON Schema dict, a Pydantic model class or an attrs class, "
        f"got {source!r}",
        field="output_schema",
    )


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    """Every object schema without ``additionalProperties`` made closed, as strict structured
    output requires (OpenAI refuses an open object in strict mode)."""
    if schema.get("type") == "object" and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    for key in ("properties", "$defs", "definitions"):
        for sub in (schema.get(key) or {}).values():
            if isinstance(sub, dict):
                _closed(sub)
    for key in ("items", "anyOf", "oneOf", "allOf"):
        value = schema.get(key)
        for sub in value if isinstance(value, list) else [value]:
            if isinstance(sub, dict):
                _closed(sub)
    return schema


_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
}


def _type_schema(hint: Any) -> dict[str, Any]:
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if attrs.has(hint):
        return _attrs_schema(hint)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (list, tuple, Sequence):
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        inner = _type_schema(options[0]) if len(options) == 1 else {}
        if len(options) == 1 and len(args) == 2:  # Optional[X]
            return {"anyOf": [inner, {"type": "null"}]}
        return {"anyOf": [_type_schema(a) for a in args]}
    raise ValidationError(
        f"cannot derive a JSON Schema from the type {hint!r}: give the schema as a dict",
        field="output_schema",
    )


def _attrs_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = attrs.fields(cls)
    return {
        "type": "object",
        "properties": {f.name: _type_schema(hints[f.name]) for f in fields},
        "required": [f.name for f in fields],
        "additionalProperties": False,
    }
