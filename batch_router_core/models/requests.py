"""Requests and batches: what is sent, before any provider format is involved."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import orjson

from batch_router_core.errors import ValidationError
from batch_router_core.models.content import TextContent
from batch_router_core.models.enums import BatchMode, InputMessageRole
from batch_router_core.models.messages import InputMessage
from batch_router_core.models.params import InferenceParams

__all__ = ["InputBatch", "InputRequest", "new_text_request"]


def _check_custom_id(inst: object, attribute: object, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError(
            f"custom_id must be a non-empty string, got {value!r}", field="custom_id"
        )


def _check_messages(inst: InputRequest, attribute: object, value: tuple[object, ...]) -> None:
    for i, m in enumerate(value):
        if not isinstance(m, InputMessage):
            raise ValidationError(
                f"expected an InputMessage, got {type(m).__name__}",
                custom_id=inst.custom_id,
                field=f"messages[{i}]",
            )
    if not value:
        raise ValidationError(
            "a request needs at least one message", custom_id=inst.custom_id, field="messages"
        )


def _check_metadata(inst: InputRequest, attribute: object, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValidationError(
            f"metadata must be a JSON object, got {type(value).__name__}",
            custom_id=inst.custom_id,
            field="metadata",
        )
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise ValidationError(
            f"metadata must be JSON data: {exc}", custom_id=inst.custom_id, field="metadata"
        ) from None


def _messages(v: Iterable[InputMessage]) -> tuple[InputMessage, ...]:
    return tuple(v)


def _requests(v: Iterable[InputRequest]) -> tuple[InputRequest, ...]:
    return tuple(v)


@attrs.frozen(kw_only=True)
class InputRequest:
    """One request: a ``custom_id`` unique within its batch, the conversation, optional overrides.

    ``params``, when given, override the batch's settings field by field (for example a different
    ``max_output_tokens`` for one long request). They cannot change the batch's provider or model.
    """

    custom_id: str = attrs.field(validator=_check_custom_id)
    messages: tuple[InputMessage, ...] = attrs.field(converter=_messages, validator=_check_messages)
    params: InferenceParams | None = None
    #: the caller's own data about the request (any JSON object): kept locally with the job,
    #: never sent to the provider, and given back on the request's result
    metadata: dict[str, Any] | None = attrs.field(default=None, validator=_check_metadata)


def _check_requests(inst: InputBatch, attribute: object, value: tuple[object, ...]) -> None:
    for i, r in enumerate(value):
        if not isinstance(r, InputRequest):
            raise ValidationError(
                f"expected an InputRequest, got {type(r).__name__}", field=f"requests[{i}]"
            )


@attrs.frozen(kw_only=True)
class InputBatch:
    """A set of requests, optionally configured for one provider and model.

    A batch without ``params`` is generic; :meth:`with_params` configures a copy for a provider,
    so the same requests can run on several providers.
    """

    requests: tuple[InputRequest, ...] = attrs.field(converter=_requests, validator=_check_requests)
    params: InferenceParams | None = None

    def with_params(self, params: InferenceParams) -> InputBatch:
        """A copy of this batch configured with ``params`` (which must name provider and model)."""
        missing = [n for n in ("provider_id", "model_id") if getattr(params, n) is None]
        if missing:
            raise ValidationError(
                f"with_params needs {' and '.join(missing)} set", field=missing[0]
            )
        return attrs.evolve(self, params=params)

    @classmethod
    def of(
        cls, requests: Iterable[InputRequest], params: InferenceParams | None = None
    ) -> InputBatch:
        """Build a batch from any iterable of requests."""
        return cls(requests=tuple(requests), params=params)

    def __len__(self) -> int:
        return len(self.requests)

    @property
    def provider(self) -> str:
        """The provider this batch is configured for (raises if it is not configured)."""
        return str(self.configured_params.provider_id)

    @property
    def model(self) -> str:
        """The model this batch is configured for (raises if it is not configured)."""
        return str(self.configured_params.model_id)

    @property
    def mode(self) -> BatchMode:
        """The batch mode (chat unless params say otherwise)."""
        return self.params.mode if self.params else BatchMode.CHAT

    @property
    def configured_params(self) -> InferenceParams:
        """The batch's params, or a ValidationError if it was never configured with with_params."""
        if self.params is None or self.params.provider_id is None or self.params.model_id is None:
            raise ValidationError(
                "this batch has no provider/model: call batch.with_params(InferenceParams("
                "provider_id=..., model_id=...)) first",
                field="params",
            )
        return self.params

    def params_for(self, request: InputRequest) -> InferenceParams:
        """The effective params of one request: the batch's, overridden by the request's own."""
        return self.configured_params.merged(request.params)


_new = object.__new__
_set = object.__setattr__
# The fast constructor below fills every field itself: a field added later must be added there.
assert [f.name for f in attrs.fields(InputRequest)] == [
    "custom_id",
    "messages",
    "params",
    "metadata",
]
assert [f.name for f in attrs.fields(InputMessage)] == ["role", "contents", "provider_kwargs"]
assert [f.name for f in attrs.fields(TextContent)] == [
    "text",
    "cache_breakpoint",
    "provider_kwargs",
]


def new_text_request(
    custom_id: str,
    turns: Iterable[tuple[InputMessageRole, str]],
    params: InferenceParams | None = None,
    metadata: dict[str, Any] | None = None,
) -> InputRequest:
    """An :class:`InputRequest` of text messages (``(role, text)`` pairs), built without running
    the constructors' checks again: for readers that have made the same checks (a non-empty
    ``custom_id`` string, at least one turn, each role an :class:`InputMessageRole` and each text
    a string) on every line of a large file, where the checked constructors cost a few µs a
    request. Anything else raises :class:`ValidationError`, as the constructors would."""
    messages = []
    for role, text in turns:
        if type(role) is not InputMessageRole or type(text) is not str:
            raise ValidationError("expected (InputMessageRole, str) turns", field="messages")
        part = _new(TextContent)
        _set(part, "text", text)
        _set(part, "cache_breakpoint", None)
        _set(part, "provider_kwargs", None)
        message = _new(InputMessage)
        _set(message, "role", role)
        _set(message, "contents", (part,))
        _set(message, "provider_kwargs", None)
        messages.append(message)
    if type(custom_id) is not str or not custom_id or not messages or metadata is not None:
        # says why (or checks the metadata)
        return InputRequest(
            custom_id=custom_id, messages=messages, params=params, metadata=metadata
        )
    request = _new(InputRequest)
    _set(request, "custom_id", custom_id)
    _set(request, "messages", tuple(messages))
    _set(request, "params", params)
    _set(request, "metadata", None)
    return request
