"""Generation settings: explicit, validated fields rather than provider kwargs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from batch_router_core.errors import ValidationError
from batch_router_core.models.enums import BatchMode, ProviderId
from batch_router_core.models.schema import OutputSchema, output_schema
from batch_router_core.models.tools import TOOL_CHOICES, Tool, tools_tuple

__all__ = ["REASONING_EFFORTS", "InferenceParams"]

#: The reasoning efforts every provider that has the setting understands.
REASONING_EFFORTS = ("minimal", "low", "medium", "high")


def _provider(value: ProviderId | str | None) -> ProviderId | str | None:
    if value is None:
        return None
    try:
        return ProviderId(value)
    except ValueError:
        # A third-party provider: its plugin's name, kept as a plain string.
        return str(value)


def _range(lo: float | None, hi: float | None, *, integer: bool = False):  # type: ignore[no-untyped-def]
    def check(inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        kind = int if integer else (int, float)
        if (
            isinstance(value, bool)
            or not isinstance(value, kind)
            or (isinstance(value, float) and math.isnan(value))
        ):
            raise ValidationError(
                f"expected {'an integer' if integer else 'a number'}, got {value!r}",
                field=attribute.name,
            )
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if hi is None:
                expected = f">= {lo}"
            elif lo is None:
                expected = f"<= {hi}"
            else:
                expected = f"between {lo} and {hi}"
            raise ValidationError(f"must be {expected}, got {value!r}", field=attribute.name)

    return check


def _system_prompt(value: str | list[str] | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    return tuple(value)


def _check_system_prompt(inst: object, attribute: object, value: Any) -> None:
    if isinstance(value, tuple) and not all(isinstance(p, str) for p in value):
        raise ValidationError("must be a string or a list of strings", field="system_prompt")


def _stops(value: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _check_stops(inst: object, attribute: object, value: tuple[str, ...] | None) -> None:
    if value is None:
        return
    for i, s in enumerate(value):
        if not isinstance(s, str) or not s:
            raise ValidationError(
                f"stop sequences must be non-empty strings, got {s!r}", field=f"stop_sequences[{i}]"
            )


def _mode(value: BatchMode | str) -> BatchMode:
    try:
        return BatchMode(value)
    except ValueError:
        raise ValidationError(
            f"mode must be one of {[m.value for m in BatchMode]}, got {value!r}", field="mode"
        ) from None


def _check_tool_choice(inst: Any, attribute: object, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise ValidationError(f"tool_choice must be a string, got {value!r}", field="tool_choice")
    if value in TOOL_CHOICES:
        return
    # A tool's name. The tools may be the batch's while the choice is a request's own: the name is
    # checked against the effective tools when the batch is validated.
    if inst.tools is not None and value not in {t.name for t in inst.tools}:
        raise ValidationError(
            f"tool_choice {value!r} is neither one of {list(TOOL_CHOICES)} nor a tool's name",
            field="tool_choice",
        )


def _check_effort(inst: object, attribute: object, value: str | None) -> None:
    if value is not None and value not in REASONING_EFFORTS:
        raise ValidationError(
            f"reasoning_effort must be one of {list(REASONING_EFFORTS)}, got {value!r}",
            field="reasoning_effort",
        )


def _kwargs(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


# Not slotted: the readers and the per-request merge build thousands of these a second, and a
# whole ``__dict__`` is set at once where slots take one call per field.
@attrs.frozen(kw_only=True, slots=False)
class InferenceParams:
    """Which provider and model a batch runs on, and how it generates.

    Every field is optional so that a request can override only some of its batch's settings;
    ``InputBatch.with_params`` requires ``provider_id`` and ``model_id``. Ranges are checked here;
    whether a provider supports a field (``top_k`` on OpenAI, say) is checked against the provider
    before anything is sent. ``provider_kwargs`` pass through untouched into the provider's request
    body (tools, response formats, thinking budgets...).
    """

    provider_id: ProviderId | str | None = attrs.field(default=None, converter=_provider)
    model_id: str | None = None
    mode: BatchMode = attrs.field(default=BatchMode.CHAT, converter=_mode)
    system_prompt: str | tuple[str, ...] | None = attrs.field(
        default=None, converter=_system_prompt, validator=_check_system_prompt
    )
    max_output_tokens: int | None = attrs.field(
        default=None, validator=_range(1, None, integer=True)
    )
    temperature: float | None = attrs.field(default=None, validator=_range(0, 2))
    top_p: float | None = attrs.field(default=None, validator=_range(0, 1))
    top_k: int | None = attrs.field(default=None, validator=_range(1, None, integer=True))
    stop_sequences: tuple[str, ...] | None = attrs.field(
        default=None, converter=_stops, validator=_check_stops
    )
    presence_penalty: float | None = attrs.field(default=None, validator=_range(-2, 2))
    frequency_penalty: float | None = attrs.field(default=None, validator=_range(-2, 2))
    seed: int | None = attrs.field(default=None, validator=_range(None, None, integer=True))
    embedding_dimensions: int | None = attrs.field(
        default=None, validator=_range(1, None, integer=True)
    )
    #: the JSON Schema every reply must conform to: a dict, a Pydantic model or an attrs class
    #: (see :mod:`batch_router_core.models.schema`); set on the batch, not per request
    output_schema: OutputSchema | None = attrs.field(default=None, converter=output_schema)
    #: functions the model may call (see :mod:`batch_router_core.models.tools`)
    tools: tuple[Tool, ...] | None = attrs.field(default=None, converter=tools_tuple)
    #: ``auto``, ``none``, ``required``, or the name of the one tool to call
    tool_choice: str | None = attrs.field(default=None, validator=_check_tool_choice)
    #: how hard a reasoning model thinks: ``minimal``, ``low``, ``medium`` or ``high``
    reasoning_effort: str | None = attrs.field(default=None, validator=_check_effort)
    #: the most tokens a model may spend thinking before it answers (0: no thinking, where the
    #: provider allows turning it off)
    thinking_budget: int | None = attrs.field(default=None, validator=_range(0, None, integer=True))
    provider_kwargs: Mapping[str, Any] = attrs.field(factory=dict, converter=_kwargs)

    #: The generation fields a provider may or may not support (everything but identity and mode).
    GENERATION_FIELDS = (
        "system_prompt",
        "max_output_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "embedding_dimensions",
        "output_schema",
        "tools",
        "tool_choice",
        "reasoning_effort",
        "thinking_budget",
    )

    def merged(self, override: InferenceParams | None) -> InferenceParams:
        """These params with every field ``override`` sets (not None) taken from ``override``.

        ``provider_kwargs`` are merged key by key, the override winning. ``mode`` is the batch's:
        a request cannot change the endpoint its batch runs on.
        """
        if override is None:
            return self
        return _merge(self, override)

    def set_fields(self) -> list[str]:
        """Names of the generation fields that are set (not None)."""
        return [n for n in self.GENERATION_FIELDS if getattr(self, n) is not None]


_new = object.__new__
_set = object.__setattr__
# ``_merge`` and ``new_params`` fill every field: a field added later must have a plain default
# (or be set there, as ``provider_kwargs`` is).
assert [f.name for f in attrs.fields(InferenceParams)] == [
    "provider_id",
    "model_id",
    "mode",
    *InferenceParams.GENERATION_FIELDS,
    "provider_kwargs",
]


#: The settings requests most often carry of their own, each with the check the constructor
#: makes of it (a value that fails goes through the constructor, which says why).
_COMMON_CHECKS: dict[str, Any] = {
    "system_prompt": lambda v: type(v) is str,
    "max_output_tokens": lambda v: type(v) is int and v >= 1,
    "temperature": lambda v: type(v) is float and 0 <= v <= 2,
    "top_p": lambda v: type(v) is float and 0 <= v <= 1,
    "top_k": lambda v: type(v) is int and v >= 1,
    "seed": lambda v: type(v) is int,
    "presence_penalty": lambda v: type(v) is float and -2 <= v <= 2,
    "frequency_penalty": lambda v: type(v) is float and -2 <= v <= 2,
}
_DEFAULTS = {
    a.name: a.default
    for a in attrs.fields(InferenceParams)
    if not isinstance(a.default, attrs.Factory)  # type: ignore[arg-type]
}


def new_params(values: dict[str, Any]) -> InferenceParams:
    """``InferenceParams(**values)`` for a reader of many requests: built without the constructor
    when every value is one of the common settings and passes the constructor's own check of it
    (a NaN fails every comparison), otherwise through the constructor (same object, same errors).
    Equal to what the constructor builds (a test keeps them so)."""
    checks = _COMMON_CHECKS
    for key, value in values.items():
        check = checks.get(key)
        if check is None or not check(value):
            return InferenceParams(**values)
    m = _new(InferenceParams)
    _set(m, "__dict__", {**_DEFAULTS, **values, "provider_kwargs": {}})
    return m


def _merge(mine: InferenceParams, theirs: InferenceParams) -> InferenceParams:
    """:meth:`InferenceParams.merged`. Every value comes from an instance that was already
    converted and checked field by field (and no check spans fields), so the merge is built
    without running them again: this runs for every request with settings of its own, where
    ``attrs.evolve`` cost 10-20 µs."""
    merged = dict(mine.__dict__)
    for name, value in theirs.__dict__.items():
        if value is not None:
            merged[name] = value
    merged["mode"] = mine.mode  # a request cannot change the endpoint its batch runs on
    own = theirs.provider_kwargs
    merged["provider_kwargs"] = {**mine.provider_kwargs, **own} if own else mine.provider_kwargs
    m = _new(InferenceParams)
    _set(m, "__dict__", merged)
    return m
