"""Atomic intent: a multi-batch call records nothing unless every batch was validated and prepared,
the provider's own checks and the credentials included; and what is kept once results are in."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_router_openai.emulator import OpenAIEmulator

from batch_router_core import (
    BatchProviderRegistry,
    ConfigError,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ValidationError,
)
from batch_router_core.emulation.clock import SystemClock
from batch_router_core.emulation.server import RunningServer, serve_in_thread
from batch_router_core.files import GeneratedFiles
from batch_router_core.formats.openai_batch.emulator.state import EmulatorState
from batch_router_core.jobs.router import BatchRouter
from batch_router_core.retry import RetryPolicy


@pytest.fixture
def server() -> Iterator[RunningServer]:
    emulator = OpenAIEmulator(EmulatorState(clock=SystemClock(speed=100000.0)))
    running = serve_in_thread(emulator)
    running.emulator = emulator  # type: ignore[attr-defined]
    yield running
    running.stop()


def _router(tmp_path: Path, options: dict[str, str]) -> BatchRouter:
    reg = BatchProviderRegistry(files=GeneratedFiles(tmp_path / ".br"), retry=RetryPolicy.no_wait())
    return BatchRouter(
        reg,
        root=tmp_path / ".br",
        initial_interval=0.02,
        max_interval=0.05,
        provider_options={"openai": options},
    )


def _batch(prefix: str, n: int, **params: object) -> InputBatch:
    return InputBatch(
        requests=[
            InputRequest(custom_id=f"{prefix}-{i}", messages=[InputMessage.user(f"{prefix} {i}")])
            for i in range(n)
        ]
    ).with_params(InferenceParams(provider_id="openai", model_id="gpt-4o-mini", **params))  # type: ignore[arg-type]


def _nothing_recorded(tmp_path: Path) -> None:
    ledger = tmp_path / ".br" / "ledger.sqlite3"
    if ledger.exists():  # the ledger opens on first use: a refused batch may leave none at all
        db = sqlite3.connect(ledger)
        assert db.execute("SELECT count(*) FROM provider_jobs").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM logical_jobs").fetchone()[0] == 0
        db.close()
    assert not [p for p in (tmp_path / ".br").rglob("*.jsonl")], "a batch's files were left behind"


async def test_a_provider_check_failing_on_a_later_batch_records_nothing(
    tmp_path: Path, server: RunningServer
) -> None:
    router = _router(tmp_path, {"base_url": server.url + "/v1", "api_key": "k"})
    good = _batch("a", 3)
    refused = _batch(
        "b", 2, provider_kwargs={"stream": True}
    )  # refused by the OpenAI plugin's prepare
    with pytest.raises(ValidationError, match="stream is not allowed"):
        await router.run_batches([good, refused], wait_for_completion=False)
    _nothing_recorded(tmp_path)
    assert server.emulator.state.batches == {}  # type: ignore[attr-defined]
    assert await router.resume() == []  # nothing for a later resume to submit and bill


async def test_missing_credentials_are_a_configuration_error_before_anything_is_recorded(
    tmp_path: Path, server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    router = _router(tmp_path, {"base_url": server.url + "/v1"})
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        router.get_provider("openai").check_credentials()
    # With a key in the options, nothing is missing.
    _router(tmp_path, {"api_key": "k"}).get_provider("openai").check_credentials()
    with pytest.raises(ConfigError, match="no API key"):
        await router.run_batches([_batch("a", 2)], wait_for_completion=False)
    _nothing_recorded(tmp_path)


async def test_resume_without_credentials_touches_no_job(
    tmp_path: Path, server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    keyed = _router(tmp_path, {"base_url": server.url + "/v1", "api_key": "k"})
    [job_id] = await keyed.run_batches([_batch("a", 2)], wait_for_completion=False)
    keyless = _router(tmp_path, {"base_url": server.url + "/v1"})
    with pytest.raises(ConfigError):
        await keyless.resume()
    assert {j.state.value for j in keyless.ledger.jobs_of(job_id)} == {"submitted"}


async def test_raw_records_are_kept_and_a_second_read_is_local(
    tmp_path: Path, server: RunningServer
) -> None:
    router = _router(tmp_path, {"base_url": server.url + "/v1", "api_key": "k"})
    [job_id] = await router.run_batches([_batch("a", 3)])
    first = [r async for r in router.get_results(job_id)]
    assert all(r.raw and r.raw["custom_id"] == r.custom_id for r in first)
    [pj] = router.ledger.jobs_of(job_id)
    assert pj.results_path is not None
    stored = [json.loads(line) for line in pj.results_path.read_text().splitlines()]
    assert [s["raw"]["response"]["body"]["choices"] for s in stored] == [
        r.raw["response"]["body"]["choices"] for r in first
    ]
    seen = dict(server.emulator.requests_seen)  # type: ignore[attr-defined]
    again = [r async for r in router.get_results(job_id)]
    assert [r.raw for r in again] == [r.raw for r in first]
    assert server.emulator.requests_seen == seen, "the second read went to the provider"  # type: ignore[attr-defined]
