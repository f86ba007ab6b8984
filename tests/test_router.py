"""BatchRouter on the fake provider: parallel runs, validation, sharding, cancel, retries,
resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batch_router_core import (
    BatchProviderRegistry,
    BatchStatus,
    InferenceParams,
    InputBatch,
    InputMessage,
    InputRequest,
    ProviderNotFoundError,
    ResultStatus,
    ValidationError,
)
from batch_router_core.emulation import ManualClock
from batch_router_core.files import GeneratedFiles
from batch_router_core.jobs.ledger import JobState
from batch_router_core.jobs.router import BatchRouter
from batch_router_core.jobs.shards import write_shards
from batch_router_core.retry import RetryPolicy
from batch_router_core.testing.fake_provider import FakeService


def batch(prefix: str, n: int, **params: object) -> InputBatch:
    reqs = [
        InputRequest(
            custom_id=f"{prefix}-{i}", messages=[InputMessage.user(f"{prefix} question {i}")]
        )
        for i in range(n)
    ]
    return InputBatch(requests=reqs).with_params(
        InferenceParams(provider_id="fake", model_id="fake-1", **params)
    )  # type: ignore[arg-type]


def make_router(tmp_path: Path, service: FakeService, **kwargs: object) -> BatchRouter:
    overrides = kwargs.pop("overrides", {})
    registry = BatchProviderRegistry(
        files=GeneratedFiles(tmp_path / ".br"),
        overrides=overrides,  # type: ignore[arg-type]
        retry=RetryPolicy.no_wait(),
    )
    return BatchRouter(
        registry,
        root=tmp_path / ".br",
        initial_interval=0.0,
        max_interval=0.0,
        provider_options={"fake": {"service": service}},
        **kwargs,
    )  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service(clock: ManualClock) -> FakeService:
    # Every poll moves the clock, so waiting finishes without sleeping.
    svc = FakeService(clock=clock)
    original = svc.get

    def get(job_id: str):  # type: ignore[no-untyped-def]
        clock.advance(0.5)
        return original(job_id)

    svc.get = get  # type: ignore[method-assign]
    return svc


async def test_parallel_run_streams_every_result_once(tmp_path: Path, service: FakeService) -> None:
    router = make_router(tmp_path, service)
    ids = await router.run_batches([batch("a", 3), batch("b", 4), batch("c", 2)])
    assert len(ids) == 3 and all(
        router.recorded_status(i).status is BatchStatus.COMPLETED for i in ids
    )
    seen = [(job, r.custom_id) async for job, r in router.get_all_results(ids)]
    assert len(seen) == 9 and len({cid for _, cid in seen}) == 9
    assert {cid for job, cid in seen if job == ids[1]} == {f"b-{i}" for i in range(4)}
    grouped = await router.get_results_by_batch(ids)
    assert [len(grouped[i]) for i in ids] == [3, 4, 2]
    assert service.calls["fetch_results"] == 3  # downloaded once, then served from disk


async def test_validation_before_anything_is_sent(tmp_path: Path, service: FakeService) -> None:
    router = make_router(tmp_path, service)
    twice = InputBatch(requests=(*batch("a", 2).requests, *batch("a", 1).requests)).with_params(
        batch("a", 1).configured_params
    )
    with pytest.raises(ValidationError, match="duplicate custom_id"):
        await router.run_batches([twice])
    with pytest.raises(ProviderNotFoundError):
        await router.run_batches(
            [
                InputBatch(requests=batch("x", 1).requests).with_params(
                    InferenceParams(provider_id="nowhere", model_id="m")
                )
            ]
        )
    small = make_router(tmp_path, service, overrides={"fake": {"limits": {"max_requests": 3}}})
    with pytest.raises(ValidationError, match="exceed fake's limit of 3"):
        await small.run_batches([batch("a", 5)])
    # Sharded, a duplicate is found across shards too.
    sharded = make_router(
        tmp_path, service, shard=True, overrides={"fake": {"limits": {"max_requests": 2}}}
    )
    with pytest.raises(ValidationError, match="unique within a batch"):
        await sharded.run_batches([twice])
    assert service.jobs == {} and router.ledger.logical_jobs() == []


async def test_the_same_batch_runs_on_two_providers_at_once(
    tmp_path: Path, service: FakeService
) -> None:
    """custom_ids are unique per batch, not per run: one batch may go to two places at once."""
    router = make_router(tmp_path, service)
    ids = await router.run_batches([batch("a", 3), batch("a", 3)])
    assert len(ids) == 2
    for job_id in ids:
        got = sorted([r.custom_id async for r in router.get_results(job_id)])
        assert got == ["a-0", "a-1", "a-2"]


async def test_sharding_by_count_and_by_bytes(tmp_path: Path, service: FakeService) -> None:
    by_count = make_router(
        tmp_path / "c", service, shard=True, overrides={"fake": {"limits": {"max_requests": 4}}}
    )
    [job] = await by_count.run_batches([batch("n", 10)])
    assert len(by_count.ledger.jobs_of(job)) == 3
    ids = [r.custom_id async for r in by_count.get_results(job)]
    assert sorted(ids) == sorted(f"n-{i}" for i in range(10))
    by_bytes = make_router(
        tmp_path / "b", service, shard=True, overrides={"fake": {"limits": {"max_bytes": 600}}}
    )
    [job] = await by_bytes.run_batches([batch("s", 9)])
    shards = by_bytes.ledger.jobs_of(job)
    assert len(shards) > 1 and all(s.input_path.stat().st_size <= 600 for s in shards)
    ids = [r.custom_id async for r in by_bytes.get_results(job)]
    assert sorted(ids) == sorted(f"s-{i}" for i in range(9))


async def test_cancel_all_accounts_for_every_request(tmp_path: Path, service: FakeService) -> None:
    router = make_router(tmp_path, service)
    service.stuck_next = True
    ids = await router.run_batches([batch("a", 4)], wait_for_completion=False)
    ids += await router.run_batches([batch("b", 3)], wait_for_completion=False)
    assert await router.cancel_all(ids) == {ids[0]: True, ids[1]: True}
    statuses = await router.wait_for_all(ids)
    assert all(s.status is BatchStatus.CANCELLED for s in statuses.values())
    results = [r async for _, r in router.get_all_results(ids)]
    assert len(results) == 7 and {r.status for r in results} <= {
        ResultStatus.CANCELLED,
        ResultStatus.SUCCEEDED,
    }


async def test_retry_failed_merges_new_outcomes(tmp_path: Path, service: FakeService) -> None:
    router = make_router(tmp_path, service)
    service.error_ids = {"a-1", "a-3"}
    [job] = await router.run_batches([batch("a", 5)])
    first = {r.custom_id: r.status async for r in router.get_results(job)}
    assert [k for k, v in first.items() if v is ResultStatus.ERRORED] == ["a-1", "a-3"]
    service.error_ids = set()
    assert sorted(await router.retry_failed(job, wait_for_completion=True)) == ["a-1", "a-3"]
    final = [r async for r in router.get_results(job)]
    assert len(final) == 5 and all(r.status is ResultStatus.SUCCEEDED for r in final)
    assert [j.attempt for j in router.ledger.jobs_of(job)] == [0, 1]


async def test_resume_adopts_a_created_job_and_submits_a_missing_one(
    tmp_path: Path, service: FakeService
) -> None:
    router = make_router(tmp_path, service)
    # Record intent only, as if the process died right after writing it.
    provider = router.get_provider("fake")
    shards = write_shards(provider, batch("a", 3), router.files, shard=False) + write_shards(
        provider, batch("b", 2), router.files, shard=False
    )
    router.ledger.create_job(
        job_id="job-x",
        provider="fake",
        model="fake-1",
        mode=batch("a", 1).mode,
        request_count=5,
        params={"provider_id": "fake", "model_id": "fake-1"},
        shards=shards,
    )
    # The first shard's job was created before the crash, its id never recorded; the crashed
    # claimant had marked it submitting (as the router always does before a create call).
    [first, second] = router.ledger.jobs_of("job-x")
    router.ledger.begin_submit(first.local_id)
    from batch_router_core.models import PreparedBatch

    await provider.submit(
        PreparedBatch(
            provider="fake",
            local_id=first.local_id,
            model="fake-1",
            mode=first.mode,
            path=first.input_path,
            request_count=3,
            byte_size=first.input_path.stat().st_size,
        )
    )
    assert len(service.jobs) == 1
    assert await router.resume() == ["job-x"]
    assert len(service.jobs) == 2  # one adopted, one submitted: nothing twice
    ids = sorted([r.custom_id async for r in router.get_results("job-x")])
    assert ids == ["a-0", "a-1", "a-2", "b-0", "b-1"]
    assert all(j.state is JobState.FETCHED for j in router.ledger.jobs_of("job-x"))
    assert await router.resume() == []


async def test_results_download_is_atomic_and_redone_if_lost(
    tmp_path: Path, service: FakeService
) -> None:
    router = make_router(tmp_path, service)
    [job] = await router.run_batches([batch("a", 3)])
    [pj] = router.ledger.jobs_of(job)
    assert [r async for r in router.get_results(job)]
    path = router.ledger.job(pj.local_id).results_path
    assert path is not None and path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    path.unlink()  # e.g. the user cleaned the directory
    assert len([r async for r in router.get_results(job)]) == 3
    assert service.calls["fetch_results"] == 2
    assert not list(path.parent.glob(".*.part"))


async def test_a_stream_of_requests_is_written_one_shard_at_a_time(
    tmp_path: Path, service: FakeService
) -> None:
    """``submit_requests`` reads a generator a shard at a time: the first shards are on disk before
    the last requests are read, and the input is never held whole."""
    router = make_router(
        tmp_path, service, shard=True, overrides={"fake": {"limits": {"max_requests": 4}}}
    )
    generated = tmp_path / ".br" / "generated"
    written_when_last_read: list[int] = []

    def requests(n: int) -> Iterator[InputRequest]:
        for i in range(n):
            if i == n - 1:
                written_when_last_read.append(len(list(generated.rglob("*_input.jsonl"))))
            yield InputRequest(custom_id=f"s-{i}", messages=[InputMessage.user(f"question {i}")])

    params = InferenceParams(provider_id="fake", model_id="fake-1")
    job = await router.submit_requests(requests(10), params, wait_for_completion=True)
    assert written_when_last_read == [2]  # 8 of 10 already written as two shards
    assert len(router.ledger.jobs_of(job)) == 3
    got = sorted([r.custom_id async for r in router.get_results(job)])
    assert got == sorted(f"s-{i}" for i in range(10))


async def test_a_stream_with_a_problem_in_its_last_shard_sends_and_keeps_nothing(
    tmp_path: Path, service: FakeService
) -> None:
    router = make_router(
        tmp_path, service, shard=True, overrides={"fake": {"limits": {"max_requests": 3}}}
    )
    reqs = [
        InputRequest(custom_id=f"d-{i % 7}", messages=[InputMessage.user(f"q {i}")])
        for i in range(8)
    ]  # d-0 again as the 8th request, in the third shard
    params = InferenceParams(provider_id="fake", model_id="fake-1")
    with pytest.raises(ValidationError, match="used by an earlier shard") as caught:
        await router.submit_requests(iter(reqs), params)
    assert [i.custom_id for i in caught.value.issues] == ["d-0"]
    assert not list((tmp_path / ".br").rglob("*.jsonl")), "files of a refused job were left"
    assert service.jobs == {} and router.ledger.logical_jobs() == []


async def test_a_lowered_enqueued_token_limit_splits_a_batch_count_and_bytes_would_not(
    tmp_path: Path, service: FakeService
) -> None:
    from batch_router_core.tokens import estimate_input_tokens

    big = batch("t", 10)  # well within the fake's count and byte limits
    per_request = estimate_input_tokens(big.requests[0], big.configured_params)
    limit = per_request * 3 + 1  # three requests fit, a fourth does not
    overrides = {"fake": {"limits": {"max_enqueued_tokens": {"fake-*": limit}}}}
    whole = make_router(tmp_path / "w", service, overrides=overrides)
    with pytest.raises(ValidationError, match="enqueued tokens for fake-1"):
        await whole.run_batches([big])  # one job would be refused by the provider
    sharded = make_router(tmp_path / "s", service, shard=True, overrides=overrides)
    [job] = await sharded.run_batches([big])
    sizes = sorted(j.request_count for j in sharded.ledger.jobs_of(job))
    assert sizes == [1, 3, 3, 3]
    got = sorted([r.custom_id async for r in sharded.get_results(job)])
    assert got == sorted(f"t-{i}" for i in range(10))
