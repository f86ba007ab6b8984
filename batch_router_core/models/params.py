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


@attrs.frozen(kw_only=True)
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
# ``_merge`` fills every field by name: a field added later must be added there.
assert [f.name for f in attrs.fields(InferenceParams)] == [
    "provider_id",
    "model_id",
    "mode",
    *InferenceParams.GENERATION_FIELDS,
    "provider_kwargs",
]


def _merge(mine: InferenceParams, theirs: InferenceParams) -> InferenceParams:
    """:meth:`InferenceParams.merged`. Every value comes from an instance that was already
    converted and checked field by field (and no check spans fields), so the merge is built
    without running them again, field by field by hand: this runs for every request with settings
    of its own, where ``attrs.evolve`` cost 10-20 µs and a loop over the fields 5."""
    m = _new(InferenceParams)
    v: Any = theirs.provider_id
    _set(m, "provider_id", mine.provider_id if v is None else v)
    v = theirs.model_id
    _set(m, "model_id", mine.model_id if v is None else v)
    _set(m, "mode", mine.mode)  # a request cannot change the endpoint its batch runs on
    v = theirs.system_prompt
    _set(m, "system_prompt", mine.system_prompt if v is None else v)
    v = theirs.max_output_tokens
    _set(m, "max_output_tokens", mine.max_output_tokens if v is None else v)
    v = theirs.temperature
    _set(m, "temperature", mine.temperature if v is None else v)
    v = theirs.top_p
    _set(m, "top_p", mine.top_p if v is None else v)
    v = theirs.top_k
    _set(m, "top_k", mine.top_k if v is None else v)
    v = theirs.stop_sequences
    _set(m, "stop_sequences", mine.stop_sequences if v is None else v)
    v = theirs.presence_penalty
    _set(m, "presence_penalty", mine.presence_penalty if v is None else v)
    v = theirs.frequency_penalty
    _set(m, "frequency_penalty", mine.frequency_penalty if v is None else v)
    v = theirs.seed
    _set(m, "seed", mine.seed if v is None else v)
    v = theirs.embedding_dimensions
    _set(m, "embedding_dimensions", mine.embedding_dimensions if v is None else v)
    v = theirs.output_schema
    _set(m, "output_schema", mine.output_schema if v is None else v)
    v = theirs.tools
    _set(m, "tools", mine.tools if v is None else v)
    v = theirs.tool_choice
    _set(m, "tool_choice", mine.tool_choice if v is None else v)
    v = theirs.reasoning_effort
    _set(m, "reasoning_effort", mine.reasoning_effort if v is None else v)
    v = theirs.thinking_budget
    _set(m, "thinking_budget", mine.thinking_budget if v is None else v)
    v = theirs.provider_kwargs
    _set(m, "provider_kwargs", {**mine.provider_kwargs, **v} if v else mine.provider_kwargs)
    return m
