"""The declarative SDK error map, against real SDK exceptions raised by real calls where
possible."""

from __future__ import annotations

import asyncio
import socket

import pytest

from batch_router_core.plugin import (
    ProviderPermanentError,
    ProviderTransientError,
    SdkErrorMap,
    SdkErrorMapper,
)


def _openai_tables() -> dict[str, tuple[type[BaseException], ...]]:
    import openai

    return {
        "status": (openai.APIStatusError,),
        "transient": (openai.APIConnectionError,),
        "permanent": (openai.OpenAIError,),
    }


OPENAI = SdkErrorMap("openai", _openai_tables)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _retrieve(**client_args: object) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key="k", max_retries=0, **client_args)  # type: ignore[arg-type]
    try:
        with OPENAI.map("poll_status", batch_id="batch_1"):
            await client.batches.retrieve("batch_1")
    finally:
        await client.close()


def test_an_illegal_header_is_permanent_not_a_connection_failure() -> None:
    """The SDK wraps a client-side header error in its connection error; retrying it cannot help."""
    with socket.socket() as server:  # a real listener: the connection opens, the header is refused
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(ProviderPermanentError, match="could not be sent") as caught:
            asyncio.run(
                _retrieve(
                    base_url=f"http://127.0.0.1:{port}/v1", default_headers={"X-Team": "a\nb"}
                )
            )
    assert caught.value.provider == "openai" and caught.value.batch_id == "batch_1"


def test_a_refused_connection_is_transient() -> None:
    with pytest.raises(ProviderTransientError, match="connection failed"):
        asyncio.run(_retrieve(base_url=f"http://127.0.0.1:{_closed_port()}/v1"))


def test_google_api_errors_map_by_their_status_code() -> None:
    from google.genai import errors as genai_errors

    google = SdkErrorMap("google", lambda: {"status": (genai_errors.APIError,)})
    busy = genai_errors.APIError(
        429, {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    )
    missing = genai_errors.APIError(
        404, {"error": {"code": 404, "message": "no such batch", "status": "NOT_FOUND"}}
    )
    transient = google.translate(busy, "poll_status")
    permanent = google.translate(missing, "poll_status")
    assert isinstance(transient, ProviderTransientError) and transient.status_code == 429
    assert isinstance(permanent, ProviderPermanentError) and permanent.status_code == 404
    assert "no such batch" in str(permanent) and permanent.code == "NOT_FOUND"


class SDKError(Exception):
    """The shape of a Speakeasy-generated SDK's error: a status code, a body, no ``response``."""

    def __init__(self, message: str, status_code: int, body: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


def test_an_sdk_without_a_response_attribute_maps_too() -> None:
    errors = SdkErrorMap("acme", lambda: {"status": (SDKError,)})
    mapped = errors.translate(SDKError("API error occurred", 503, "{}"), "submit", local_id="l1")
    assert isinstance(mapped, ProviderTransientError) and mapped.status_code == 503
    assert mapped.retry_after is None


def test_unknown_exceptions_pass_through_and_tables_are_checked() -> None:
    errors = SdkErrorMap("acme", lambda: {"status": (SDKError,)})
    bug = KeyError("x")
    assert errors.translate(bug, "submit") is bug  # the facade reports it as a plugin bug
    wrong = SdkErrorMap("acme", lambda: {"statuses": (SDKError,)})
    with pytest.raises(ValueError, match="status/transient/permanent"):
        wrong.translate(bug, "submit")


def test_the_01_mapper_still_works() -> None:
    import openai

    mapper = SdkErrorMapper(
        "openai", lambda: (openai.APIStatusError, (openai.APIConnectionError,), openai.OpenAIError)
    )
    assert isinstance(
        mapper.translate(openai.OpenAIError("boom"), "submit"), ProviderPermanentError
    )
