"""The router across two providers at once (the OpenAI emulator over HTTP and the fake provider)."""

from __future__ import annotations

from pathlib import Path

from batch_router_openai.emulator import OpenAIEmulator

from batch_router_core import (
    BatchProviderRegistry,
    BatchStatus,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ResultStatus,
)
from batch_router_core.emulation.clock import ManualClock, SystemClock
from batch_router_core.emulation.server import RunningServer
from batch_router_core.files import GeneratedFiles
from batch_router_core.jobs.router import BatchRouter
from batch_router_core.retry import RetryPolicy
from batch_router_core.testing.fake_provider import FakeService


def _batch(prefix: str, n: int, provider: str, model: str) -> InputBatch:
    return InputBatch(
        requests=[
            InputRequest(custom_id=f"{prefix}-{i}", messages=[InputMessage.user(f"{prefix} {i}")])
            for i in range(n)
        ]
    ).with_params(InferenceParams(provider_id=provider, model_id=model, max_output_tokens=20))


def _router(tmp_path: Path, server: RunningServer, **kw: object) -> BatchRouter:
    overrides = kw.pop("overrides", {})
    reg = BatchProviderRegistry(
        files=GeneratedFiles(tmp_path / ".br"),
        overrides=overrides,  # type: ignore[arg-type]
        retry=RetryPolicy.no_wait(),
    )
    fast_fake = FakeService(clock=SystemClock(speed=1000.0))
    return BatchRouter(
        reg,
        root=tmp_path / ".br",
        initial_interval=0.02,
        max_interval=0.05,
        provider_options={
            "openai": {"base_url": server.url + "/v1", "api_key": "k"},
            "fake": {"service": fast_fake},
        },
        **kw,
    )  # type: ignore[arg-type]


async def test_parallel_run_across_providers(
    tmp_path: Path, server: RunningServer, clock: ManualClock, emulator: OpenAIEmulator
) -> None:
    emulator.state.clock = SystemClock(speed=100000.0)
    router = _router(tmp_path, server)
    ids = await router.run_batches(
        [
            _batch("oa", 5, "openai", "gpt-4o-mini"),
            _batch("fk", 3, "fake", "fake-1"),
            _batch("ob", 2, "openai", "gpt-4o-mini"),
        ]
    )
    results = [(job, r) async for job, r in router.get_all_results(ids)]
    assert len(results) == 10 and len({r.custom_id for _, r in results}) == 10
    assert {r.provider for _, r in results} == {"openai", "fake"}
    assert all(r.status is ResultStatus.SUCCEEDED for _, r in results)
    assert len(emulator.state.batches) == 2


async def test_openai_sharding_by_count_and_bytes(
    tmp_path: Path, server: RunningServer, emulator: OpenAIEmulator
) -> None:
    emulator.state.clock = SystemClock(speed=100000.0)
    router = _router(
        tmp_path,
        server,
        shard=True,
        overrides={"openai": {"limits": {"max_requests": 4, "max_bytes": 700}}},
    )
    [job] = await router.run_batches([_batch("s", 11, "openai", "gpt-4o-mini")])
    shards = router.ledger.jobs_of(job)
    assert len(shards) >= 3 and len(emulator.state.batches) == len(shards)
    assert all(s.request_count <= 4 and s.input_path.stat().st_size <= 700 for s in shards)
    status = router.recorded_status(job)
    assert status.status is BatchStatus.COMPLETED and status.request_counts.succeeded == 11
    ids = sorted([r.custom_id async for r in router.get_results(job)])
    assert ids == sorted(f"s-{i}" for i in range(11))


async def test_retry_failed_on_another_provider(
    tmp_path: Path, server: RunningServer, emulator: OpenAIEmulator
) -> None:
    emulator.state.clock = SystemClock(speed=100000.0)
    emulator.state.error_ids = {"r-0", "r-2"}
    router = _router(tmp_path, server)
    [job] = await router.run_batches([_batch("r", 4, "openai", "gpt-4o-mini")])
    retried = await router.retry_failed(
        job, provider="fake", model="fake-1", wait_for_completion=True
    )
    assert sorted(retried) == ["r-0", "r-2"]
    final = {r.custom_id: r async for r in router.get_results(job)}
    assert len(final) == 4 and all(r.status is ResultStatus.SUCCEEDED for r in final.values())
    assert final["r-0"].provider == "fake" and final["r-1"].provider == "openai"
