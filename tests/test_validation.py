"""Validation before any network call: every rule names custom_id and field."""

from __future__ import annotations

import pytest

from batch_router_core import (
    ImageContent,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ProviderInfo,
    TextContent,
    ValidationError,
)
from batch_router_core.errors import UnsupportedContentError
from batch_router_core.models import BatchMode, Capabilities, ProviderLimits
from batch_router_core.validation import validate_batch

INFO = ProviderInfo(
    name="strict",
    modes=("chat",),
    models=("good-*",),
    limits=ProviderLimits(max_requests=3, custom_id_max_length=8, custom_id_pattern=r"[a-z0-9-]+"),
    capabilities=Capabilities(
        alternating_roles=True,
        first_role_user=True,
        content={"chat": ["text", "image"]},
        unsupported_params=["top_k"],
        required_params=["max_output_tokens"],
        max_stop_sequences=2,
    ),
    status_map={"done": "completed"},
)


def batch(*requests: InputRequest, **params: object) -> InputBatch:
    base = {"provider_id": "strict", "model_id": "good-1", "max_output_tokens": 5}
    base.update(params)
    return InputBatch(requests=requests).with_params(InferenceParams(**base))  # type: ignore[arg-type]


def req(cid: str, *messages: InputMessage, params: InferenceParams | None = None) -> InputRequest:
    return InputRequest(
        custom_id=cid, messages=messages or (InputMessage.user("hi"),), params=params
    )


def issues(b: InputBatch) -> list[tuple[str | None, str | None]]:
    with pytest.raises(ValidationError) as exc:
        validate_batch(b, INFO)
    return [(i.custom_id, i.field) for i in exc.value.issues]


def test_a_valid_batch_passes() -> None:
    validate_batch(batch(req("a"), req("b")), INFO)


def test_duplicate_custom_ids() -> None:
    with pytest.raises(ValidationError, match=r"duplicate custom_id \(first used by request #1\)"):
        validate_batch(batch(req("a"), req("a")), INFO)


def test_custom_id_length_and_pattern() -> None:
    assert issues(batch(req("much-too-long-id"))) == [("much-too-long-id", "custom_id")]
    assert issues(batch(req("UPPER"))) == [("UPPER", "custom_id")]


def test_limits_and_model_and_mode() -> None:
    found = issues(
        batch(req("a"), req("b"), req("c"), req("d"), model_id="bad-1", mode="embedding")
    )
    assert (None, "requests") in found
    assert (None, "params.model_id") in found
    assert (None, "params.mode") in found


def test_required_and_unsupported_params() -> None:
    found = issues(batch(req("a"), max_output_tokens=None, top_k=3, stop_sequences=["a", "b", "c"]))
    assert sorted(f for _, f in found) == [
        "params.max_output_tokens",
        "params.stop_sequences",
        "params.top_k",
    ]
    # per-request overrides are checked with the request's id
    found = issues(batch(req("a", params=InferenceParams(top_k=2))))
    assert found == [("a", "params.top_k")]


def test_request_cannot_change_model_or_provider() -> None:
    found = issues(batch(req("a", params=InferenceParams(model_id="good-2", provider_id="other"))))
    assert ("a", "params.model_id") in found and ("a", "params.provider_id") in found


def test_role_order_rules() -> None:
    a = InputMessage.assistant("x")
    u = InputMessage.user("y")
    assert issues(batch(req("a", a, u))) == [("a", "messages[0].role")]
    assert issues(batch(req("b", u, u))) == [("b", "messages[1].role")]


def test_content_the_provider_cannot_take() -> None:
    msg = InputMessage(
        role="user", contents=[TextContent(text="see"), ImageContent(url="https://x/y.png")]
    )
    with pytest.raises(UnsupportedContentError, match="cannot take image_url content") as exc:
        validate_batch(batch(req("a", msg)), INFO)
    assert exc.value.issues[0].field == "messages[0].contents[1]"
    assert exc.value.custom_id == "a"


def test_all_problems_are_reported_together() -> None:
    b = batch(req("a"), req("a"), req("B"), max_output_tokens=None)
    with pytest.raises(ValidationError) as exc:
        validate_batch(b, INFO)
    assert len(exc.value.issues) == 3
    assert "3 problems in the input" in str(exc.value)


def test_wrong_provider_is_reported() -> None:
    b = InputBatch(requests=[req("a")]).with_params(
        InferenceParams(provider_id="other", model_id="good-1", max_output_tokens=1)
    )
    assert issues(b) == [(None, "params.provider_id")]


def test_embedding_mode_uses_its_own_content_rules() -> None:
    info = ProviderInfo(
        name="strict",
        modes=("embedding",),
        models=("*",),
        capabilities=Capabilities(content={"embedding": ["text"]}),
    )
    b = InputBatch(requests=[req("a", InputMessage(role="user", contents=[ImageContent(url="u")]))])
    b = b.with_params(InferenceParams(provider_id="strict", model_id="m", mode=BatchMode.EMBEDDING))
    with pytest.raises(UnsupportedContentError):
        validate_batch(b, info)
