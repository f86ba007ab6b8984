"""What is Azure's own, through the ``openai`` SDK's ``AzureOpenAI`` over loopback HTTP against
the emulator: deployments, api-versions, endpoints without ``/v1``, the ``api-key`` header."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from batch_router_azure.emulator import AzureEmulator, create_app

from batch_router_core import (
    BatchMode,
    BatchProviderRegistry,
    BatchStatus,
    ConfigError,
    InferenceParams,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation.clock import ManualClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.testing import question_batch

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
KEY = "azure-test-key"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_760_000_000.0)


@pytest.fixture
def emulator(clock: ManualClock, tmp_path: Path) -> AzureEmulator:
    emu = create_app(
        {"api_key": KEY, "workdir": tmp_path, "deployments": "gpt-4o-mini-batch,embed-batch"}
    )
    emu.state.clock = clock
    return emu


@pytest.fixture
def server(emulator: AzureEmulator, batch_router_serve: Callable[[Any], RunningServer]) -> Any:
    return batch_router_serve(emulator)


def _azure(registry: BatchProviderRegistry, server: RunningServer, **options: Any) -> Any:
    return registry.get("azure", azure_endpoint=server.url, api_key=KEY, **options)


async def test_a_batch_runs_on_a_deployment_with_azures_endpoint_names(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: AzureEmulator,
    clock: ManualClock,
) -> None:
    provider = _azure(batch_router_registry, server)
    prepared = provider.prepare(question_batch("azure", "gpt-4o-mini-batch", 3))
    lines = [json.loads(line) for line in prepared.path.read_text().splitlines()]
    assert {line["url"] for line in lines} == {"/chat/completions"}
    assert {line["body"]["model"] for line in lines} == {"gpt-4o-mini-batch"}
    handle = await provider.submit(prepared)
    assert emulator.state.batches[handle.batch_id].endpoint == "/chat/completions"
    clock.advance(3600)
    assert (await provider.poll_status(handle)).status is BatchStatus.COMPLETED
    results = [r async for r in provider.fetch_results(handle)]
    assert sorted(r.custom_id for r in results) == ["req-0", "req-1", "req-2"]
    assert {r.status for r in results} == {ResultStatus.SUCCEEDED}
    assert all(r.provider == "azure" and r.text for r in results)


async def test_embeddings_run_on_an_embedding_deployment(
    batch_router_registry: BatchProviderRegistry, server: RunningServer, clock: ManualClock
) -> None:
    provider = _azure(batch_router_registry, server)
    batch = question_batch("azure", "embed-batch", 2).with_params(
        InferenceParams(provider_id="azure", model_id="embed-batch", mode=BatchMode.EMBEDDING)
    )
    prepared = provider.prepare(batch)
    assert '"url":"/embeddings"' in prepared.path.read_text()
    handle = await provider.submit(prepared)
    clock.advance(3600)
    await provider.poll_status(handle)
    results = [r async for r in provider.fetch_results(handle)]
    assert len(results) == 2 and all(r.embedding for r in results)


async def test_a_name_that_is_no_batch_deployment_fails_the_batch(
    batch_router_registry: BatchProviderRegistry, server: RunningServer, clock: ManualClock
) -> None:
    provider = _azure(batch_router_registry, server)
    handle = await provider.submit(provider.prepare(question_batch("azure", "gpt-4o-mini", 2)))
    clock.advance(60)
    report = await provider.poll_status(handle)
    assert report.status is BatchStatus.FAILED
    assert report.error is not None and "model_not_found" in report.error
    assert "'gpt-4o-mini'" in report.error


@pytest.mark.parametrize("version", ["2024-02-01", "2023-05-15", "latest"])
def test_an_api_version_without_batch_routes_is_refused_before_anything_is_sent(
    batch_router_registry: BatchProviderRegistry,
    server: RunningServer,
    emulator: AzureEmulator,
    version: str,
) -> None:
    provider = _azure(batch_router_registry, server, api_version=version)
    with pytest.raises(ValidationError) as err:
        provider.prepare(question_batch("azure", "gpt-4o-mini-batch", 2))
    assert err.value.issues[0].field == "api_version" and repr(version) in str(err.value)
    assert emulator.requests_seen == {}
    with pytest.raises(ConfigError, match=version):
        provider.check_credentials()


def test_the_emulator_answers_the_sdk_as_azure_does(server: RunningServer) -> None:
    def client(**kw: Any) -> openai.AzureOpenAI:
        args: dict[str, Any] = {"api_key": KEY, "api_version": "2024-10-21", **kw}
        return openai.AzureOpenAI(azure_endpoint=server.url, max_retries=0, **args)

    assert client().batches.list().data == []
    # No batch routes before 2024-07: Azure's 404 "Resource not found".
    with pytest.raises(openai.NotFoundError, match="Resource not found"):
        client(api_version="2024-02-01").batches.list()
    with pytest.raises(openai.AuthenticationError, match="subscription key"):
        client(api_key="wrong").batches.list()
    # The key travels in api-key, not as a bearer token.
    bearer = openai.OpenAI(api_key=KEY, base_url=server.url + "/openai", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bearer.batches.list(extra_query={"api-version": "2024-10-21"})
    # Synchronous calls go to the deployment named as the model.
    answer = client().chat.completions.create(
        model="gpt-4o-mini-batch", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content
    with pytest.raises(openai.NotFoundError, match="deployment"):
        client().chat.completions.create(
            model="no-such-deployment", messages=[{"role": "user", "content": "hi"}]
        )
    uploaded = client().files.create(file=("in.jsonl", b'{"a": 1}\n'), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="endpoint"):
        client().batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        )


def test_credentials_name_what_is_missing(
    batch_router_registry: BatchProviderRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError) as err:
        batch_router_registry.get("azure").check_credentials()
    assert "AZURE_OPENAI_API_KEY" in str(err.value) and "AZURE_OPENAI_ENDPOINT" in str(err.value)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://r.openai.azure.com")
    batch_router_registry.get("azure").check_credentials()  # nothing missing
