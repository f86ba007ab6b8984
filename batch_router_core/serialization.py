"""JSON for the vocabulary: one private cattrs converter, owned by core, never the global one.

``to_data`` / ``from_data`` convert between vocabulary objects and JSON-ready Python data;
``dumps`` / ``loads`` go to and from JSON bytes with orjson. Structuring errors become
:class:`~batch_router_core.errors.ValidationError` naming the field path and what was expected.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from batch_router_core.errors import ValidationError, ValidationIssue
from batch_router_core.models.content import CONTENT_TYPES, Content, TextContent
from batch_router_core.models.enums import InputMessageRole
from batch_router_core.models.messages import InputMessage, _to_role
from batch_router_core.models.provider import ProviderInfo
from batch_router_core.models.results import RequestResult, UsageInfo

__all__ = ["dumps", "from_data", "loads", "to_data", "usage_to_data"]

T = TypeVar("T")


def _structure_content(value: Any, _: Any) -> Content:
    # ``_`` is the requested type: the Content union, or one concrete part class.
    if isinstance(value, str):
        return TextContent(text=value)
    if not isinstance(value, dict):
        raise ValidationError(f"expected a content object, got {type(value).__name__}")
    kind = value.get("type")
    cls = CONTENT_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ValidationError(
            f"unknown content type {kind!r}; expected one of {sorted(CONTENT_TYPES)}", field="type"
        )
    if isinstance(_, type) and _ in CONTENT_TYPES.values() and _ is not cls:
        raise ValidationError(
            f"expected {getattr(_, 'type', _)} content, got {kind!r}", field="type"
        )
    fields = {k: v for k, v in value.items() if k != "type"}
    unknown = set(fields) - {a.name for a in attrs.fields(cls)}
    if unknown:
        raise ValidationError(f"unknown field(s) {sorted(unknown)} for {kind} content")
    return cls(**fields)  # type: ignore[no-any-return]


def _unstructure_content(value: Content) -> dict[str, Any]:
    out: dict[str, Any] = {"type": value.type}
    for a in attrs.fields(type(value)):
        v = getattr(value, a.name)
        if v is not None:
            out[a.name] = v
    return out


def usage_to_data(u: UsageInfo) -> dict[str, Any]:
    """Usage as JSON data: the three counts always, the optional details only when reported."""
    d: dict[str, Any] = {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
    }
    if u.cached_tokens is not None:
        d["cached_tokens"] = u.cached_tokens
    if u.cache_creation_tokens is not None:
        d["cache_creation_tokens"] = u.cache_creation_tokens
    if u.reasoning_tokens is not None:
        d["reasoning_tokens"] = u.reasoning_tokens
    return d


def _structure_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    elif isinstance(value, str):
        dt = datetime.fromisoformat(value)
    else:
        raise ValidationError(f"expected an ISO 8601 timestamp, got {value!r}")
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


_INT64 = (-(1 << 63), (1 << 63) - 1)


def _structure_str(value: Any, _: Any) -> str:
    # Never coerced: ``"custom_id": 123`` is a mistake in the input, not the string "123".
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _structure_int(value: Any, _: Any) -> int:
    # Never coerced: 10.5 is not 10, "10" is not 10, true is not 1, and 2**64 fits no provider's
    # field.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"expected an integer, got {type(value).__name__} {value!r}")
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValidationError(f"integer {value} is outside the 64-bit range")
    return value


def _structure_bool(value: Any, _: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"expected true or false, got {type(value).__name__} {value!r}")
    return value


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"expected a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationError(f"expected a finite number, got {value!r}")
    return number


@cache
def _converter() -> cattrs.Converter:
    """Build the converter once, lazily (nothing happens at import time)."""
    conv = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(InputMessageRole, lambda v, _: _to_role(v))
    conv.register_unstructure_hook(UsageInfo, usage_to_data)
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    for cls in CONTENT_TYPES.values():
        conv.register_unstructure_hook(cls, _unstructure_content)
        conv.register_structure_hook(cls, _structure_content)
    conv.register_structure_hook(Content, _structure_content)

    # A message may say "content": "text" (or "contents": "text") as a shorthand for one text part.
    base_message = make_dict_structure_fn(InputMessage, conv)

    def structure_message(value: Any, cls: Any) -> InputMessage:
        if isinstance(value, dict):
            if "content" in value and "contents" not in value:
                value = {**value, "contents": value["content"]}
                del value["content"]
            if isinstance(value.get("contents"), str):
                value = {**value, "contents": [value["contents"]]}
        return base_message(value, cls)

    conv.register_structure_hook(InputMessage, structure_message)
    conv.register_unstructure_hook(
        ProviderInfo,
        make_dict_unstructure_fn(ProviderInfo, conv, _cattrs_omit_if_default=False),
    )
    # Results keep every field explicit (null included): downstream tools read them by column.
    conv.register_unstructure_hook(
        RequestResult, make_dict_unstructure_fn(RequestResult, conv, _cattrs_omit_if_default=False)
    )
    return conv


def to_data(obj: Any) -> Any:
    """Convert a vocabulary object (or a container of them) to JSON-ready data."""
    return _converter().unstructure(obj)


def from_data(cls: type[T], data: Any) -> T:
    """Build a ``cls`` from JSON-ready data. Raises ValidationError with the field path."""
    try:
        return _converter().structure(data, cls)
    except ValidationError:
        raise
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        raise ValidationError(_issues(exc)) from None


def dumps(obj: Any) -> bytes:
    """Serialise a vocabulary object to JSON bytes."""
    return orjson.dumps(to_data(obj))


def loads(cls: type[T], raw: bytes | str) -> T:
    """Parse JSON bytes into a ``cls``. Raises ValidationError on bad JSON or bad fields."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"invalid JSON: {exc}") from None
    return from_data(cls, data)


def _issues(exc: BaseException, path: str = "") -> list[ValidationIssue]:
    """Flatten cattrs' exception groups into issues that carry the field path."""
    if isinstance(exc, ValidationError):
        out = []
        for issue in exc.issues:
            field = ".".join(p for p in (path, issue.field or "") if p) or None
            out.append(ValidationIssue(issue.message, custom_id=issue.custom_id, field=field))
        return out
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [ValidationIssue(f"unknown field(s) {sorted(exc.extra_fields)}", field=path or None)]
    if isinstance(exc, BaseExceptionGroup):
        issues: list[ValidationIssue] = []
        for sub in exc.exceptions:
            sub_path = path
            for note in getattr(sub, "__notes__", []):
                name = getattr(note, "name", None)
                idx = getattr(note, "index", None)
                if name is not None:
                    sub_path = f"{path}.{name}" if path else str(name)
                elif idx is not None:
                    sub_path = f"{path}[{idx}]"
            issues.extend(_issues(sub, sub_path))
        return issues or [ValidationIssue(str(exc), field=path or None)]
    if isinstance(exc, KeyError):
        return [ValidationIssue("required field is missing", field=path or None)]
    text = str(exc)
    if "missing" in text and "required" in text:
        text = "required field is missing"
    return [ValidationIssue(text, field=path or None)]
