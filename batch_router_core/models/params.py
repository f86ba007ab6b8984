"""Generation settings: explicit, validated fields rather than provider kwargs."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

import attrs

from batch_router_core.errors import ValidationError
from batch_router_core.models.enums import BatchMode, ProviderId

__all__ = ["InferenceParams", "checked_params"]


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
    )

    def merged(self, override: InferenceParams | None) -> InferenceParams:
        """These params with every field ``override`` sets (not None) taken from ``override``.

        ``provider_kwargs`` are merged key by key, the override winning. ``mode`` is the batch's:
        a request cannot change the endpoint its batch runs on.
        """
        if override is None:
            return self
        # Every value comes from an instance that was already converted and checked field by field
        # (and no check spans fields), so the merge is built without running them again: this runs
        # for every request with settings of its own, where evolve() cost 10-20 us.
        mine = _all_fields(self)
        theirs = _all_fields(override)
        values = [m if t is None else t for m, t in zip(mine, theirs, strict=True)]
        values[_MODE] = mine[_MODE]  # a request cannot change the endpoint its batch runs on
        kwargs = theirs[_KWARGS]
        values[_KWARGS] = {**mine[_KWARGS], **kwargs} if kwargs else mine[_KWARGS]
        merged = object.__new__(InferenceParams)
        for name, value in zip(_FIELD_NAMES, values, strict=True):
            object.__setattr__(merged, name, value)
        return merged

    def set_fields(self) -> list[str]:
        """Names of the generation fields that are set (not None)."""
        return [n for n in self.GENERATION_FIELDS if getattr(self, n) is not None]


_FIELD_NAMES = tuple(f.name for f in attrs.fields(InferenceParams))
_all_fields = operator.attrgetter(*_FIELD_NAMES)
_MODE = _FIELD_NAMES.index("mode")
_KWARGS = _FIELD_NAMES.index("provider_kwargs")


_CHECKS = {a.name: a for a in attrs.fields(InferenceParams) if a.validator is not None}
_PLAIN_FIELDS = tuple(
    (a.name, a.default)
    for a in attrs.fields(InferenceParams)
    if a.name not in ("mode", "provider_kwargs")
)
_UNCONVERTED = frozenset(
    a.name
    for a in attrs.fields(InferenceParams)
    if a.converter is None or a.name == "system_prompt"
)


def checked_params(values: Mapping[str, Any]) -> InferenceParams:
    """``InferenceParams(**values)`` for a reader that has already given every value its final
    type (a ``system_prompt`` string, ``float`` numbers, ``int`` counts): each field's own check
    runs, its converter does not, which makes this several times cheaper per request of a large
    file. A field with a converter other than ``system_prompt`` raises :class:`ValidationError`
    (use the constructor)."""
    for name, value in values.items():
        if name not in _UNCONVERTED:
            raise ValidationError(f"{name} needs the constructor's conversion", field=name)
        check = _CHECKS.get(name)
        if check is not None:
            check.validator(None, check, value)  # type: ignore[misc]
        if name == "system_prompt" and type(value) is not str:
            raise ValidationError("expected a string", field=name)
    params = object.__new__(InferenceParams)
    for name, default in _PLAIN_FIELDS:
        object.__setattr__(params, name, values.get(name, default))
    object.__setattr__(params, "mode", BatchMode.CHAT)
    object.__setattr__(params, "provider_kwargs", {})
    return params
