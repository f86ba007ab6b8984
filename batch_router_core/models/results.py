"""What comes back: per-request results, usage, request counts and status reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast

import attrs

from batch_router_core.models.enums import BatchStatus, ResultStatus
from batch_router_core.models.tools import ToolCall

__all__ = [
    "BatchStatusReport",
    "RequestCounts",
    "RequestError",
    "RequestResult",
    "UsageInfo",
    "new_result",
    "new_usage",
]

# Result and usage objects are made once per request when parsing result files (50,000+ at a time).
# They are frozen but not slotted: a frozen slotted class must set each field through
# object.__setattr__, while a dict-backed one can take its whole __dict__ at once (new_result),
# which halves the cost of building one. They stream, so the per-object dict is never multiplied.


_T = TypeVar("_T")


@attrs.frozen(kw_only=True, slots=False)
class UsageInfo:
    """Token usage of one request (or summed over a batch).

    ``cached_tokens`` counts prompt tokens served from a cache (OpenAI ``cached_tokens``, Anthropic
    ``cache_read_input_tokens``); ``cache_creation_tokens`` counts tokens written to a cache
    (Anthropic); ``reasoning_tokens`` counts hidden reasoning output where reported.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None

    def __add__(self, other: UsageInfo) -> UsageInfo:
        def opt(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return UsageInfo(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cached_tokens=opt(self.cached_tokens, other.cached_tokens),
            cache_creation_tokens=opt(self.cache_creation_tokens, other.cache_creation_tokens),
            reasoning_tokens=opt(self.reasoning_tokens, other.reasoning_tokens),
        )


@attrs.frozen(kw_only=True, slots=False)
class RequestError:
    """Why one request did not succeed: the provider's own code, message and HTTP status."""

    message: str
    code: str | None = None
    type: str | None = None
    status_code: int | None = None


@attrs.frozen(kw_only=True, slots=False)
class RequestResult:
    """The outcome of one request, the same shape whatever the provider.

    Exactly one result is produced per submitted request. Results may arrive in any order: match on
    ``custom_id``. ``text`` holds the generated text (chat/completion), ``embedding`` the vector
    (embedding mode); ``raw`` keeps the provider's native record for anything not normalised.
    """

    custom_id: str
    status: ResultStatus
    provider: str | None = None
    model: str | None = None
    text: str | None = None
    embedding: tuple[float, ...] | None = None
    finish_reason: str | None = None
    usage: UsageInfo | None = None
    error: RequestError | None = None
    raw: Any = None
    #: the reply parsed as JSON and checked against the batch's ``output_schema`` (a dict, list or
    #: scalar); None without a schema. A reply that is not JSON or does not conform is ERRORED
    #: (``error.code`` ``output_invalid``), never SUCCEEDED. :meth:`parsed_as` builds the user's
    #: model from it.
    parsed: Any = None
    #: the tool calls of the reply, in order (None when it made none)
    tool_calls: tuple[ToolCall, ...] | None = None
    #: the request's own ``metadata``, given back (never sent to the provider)
    metadata: dict[str, Any] | None = None

    def parsed_as(self, model: type[_T]) -> _T:
        """:attr:`parsed` as an instance of ``model``: a Pydantic model (``model_validate``), an
        attrs class (cattrs), or any class taking the fields as keyword arguments."""
        if self.parsed is None:
            raise ValueError(f"{self.custom_id}: no parsed output ({self.status.value})")
        validate = getattr(model, "model_validate", None)
        if callable(validate):
            return validate(self.parsed)  # type: ignore[no-any-return]
        target: type[Any] = model  # attrs.has would narrow ``model`` to AttrsInstance
        if attrs.has(target):
            import cattrs

            return cast(_T, cattrs.structure(self.parsed, target))
        return model(**self.parsed)

    @property
    def succeeded(self) -> bool:
        """True when the request produced output."""
        return self.status is ResultStatus.SUCCEEDED


@attrs.frozen(kw_only=True)
class RequestCounts:
    """How many of a job's requests are in each state (as far as the provider reports)."""

    total: int = 0
    processing: int = 0
    succeeded: int = 0
    errored: int = 0
    cancelled: int = 0
    expired: int = 0

    @property
    def done(self) -> int:
        """Requests that reached an outcome."""
        return self.succeeded + self.errored + self.cancelled + self.expired


@attrs.frozen(kw_only=True)
class BatchStatusReport:
    """A provider job's state at one moment: normalised status, raw status, counts and times.

    All timestamps are timezone-aware UTC datetimes (or None when the provider has not reached that
    point). ``error`` holds the job-level failure reason for FAILED jobs.
    """

    provider: str
    batch_id: str
    status: BatchStatus
    raw_status: str
    request_counts: RequestCounts = attrs.field(factory=RequestCounts)
    created_at: datetime | None = None
    started_at: datetime | None = None
    finalizing_at: datetime | None = None
    ended_at: datetime | None = None
    expires_at: datetime | None = None
    cancelling_at: datetime | None = None
    error: str | None = None
    raw: Any = None
    #: The job failed before running any request, for a reason that passes (the provider's queue
    #: of enqueued tokens was full): creating it again later is safe, and is what the router does.
    requeue: bool = False

    @property
    def is_terminal(self) -> bool:
        """True once the job will not change any more."""
        return self.status.is_terminal


_new = object.__new__
_set = object.__setattr__


def _defaults_beyond(cls: type, fast: tuple[str, ...]) -> dict[str, Any]:
    """The fields of ``cls`` a fast constructor does not take, with their (plain) defaults: a field
    added to the class later is filled in, never silently missing. A field without a plain default
    would have to be passed, so it stops the import instead of producing incomplete objects."""
    extra = {}
    for field in attrs.fields(cls):
        if field.name in fast:
            continue
        if field.default is attrs.NOTHING or isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            raise TypeError(
                f"{cls.__name__}.{field.name} needs a plain default or a place in the "
                "fast constructor"
            )
        extra[field.name] = field.default
    return extra


_USAGE_EXTRA = _defaults_beyond(
    UsageInfo,
    (
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cached_tokens",
        "cache_creation_tokens",
        "reasoning_tokens",
    ),
)
_RESULT_EXTRA = _defaults_beyond(
    RequestResult,
    (
        "custom_id",
        "status",
        "provider",
        "model",
        "text",
        "embedding",
        "finish_reason",
        "usage",
        "error",
        "raw",
        "parsed",
        "tool_calls",
        "metadata",
    ),
)


def new_usage(
    prompt_tokens: int,
    completion_tokens: int,
    total_tokens: int,
    cached_tokens: int | None = None,
    cache_creation_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> UsageInfo:
    """Build a :class:`UsageInfo` without the keyword-only constructor's overhead.

    For plugins' result parsers on hot paths; the values are trusted (no validation is done by the
    regular constructor either). The result equals ``UsageInfo(...)`` with the same fields.
    """
    obj = _new(UsageInfo)
    _set(
        obj,
        "__dict__",
        {
            **_USAGE_EXTRA,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": total_tokens,
            "cached_tokens": cached_tokens,
            "cache_creation_tokens": cache_creation_tokens,
            "reasoning_tokens": reasoning_tokens,
        },
    )
    return obj


def new_result(
    custom_id: str,
    status: ResultStatus,
    provider: str | None = None,
    model: str | None = None,
    text: str | None = None,
    embedding: tuple[float, ...] | None = None,
    finish_reason: str | None = None,
    usage: UsageInfo | None = None,
    error: RequestError | None = None,
    raw: Any = None,
    parsed: Any = None,
    tool_calls: tuple[ToolCall, ...] | None = None,
    metadata: dict[str, Any] | None = None,
) -> RequestResult:
    """Build a :class:`RequestResult` quickly (positional arguments, no keyword-only overhead).

    For plugins' result parsers; equal to ``RequestResult(...)`` with the same fields.
    """
    obj = _new(RequestResult)
    _set(
        obj,
        "__dict__",
        {
            **_RESULT_EXTRA,
            "custom_id": custom_id,
            "status": status,
            "provider": provider,
            "model": model,
            "text": text,
            "embedding": embedding,
            "finish_reason": finish_reason,
            "usage": usage,
            "error": error,
            "raw": raw,
            "parsed": parsed,
            "tool_calls": tool_calls,
            "metadata": metadata,
        },
    )
    return obj
