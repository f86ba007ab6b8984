"""Online micro-batching (seed 004): engine (10+), queue (8+), scheduler (10+) tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from batch_router_core import ValidationError
from batch_router_core.online import (
    BatchConfig,
    BatchEngine,
    BatchScheduler,
    LatencyTracker,
    QueuedRequest,
    RequestQueue,
)

# -- engine ---------------------------------------------------------------------------------------


def engine(**cfg: Any) -> BatchEngine:
    return BatchEngine(
        BatchConfig(**cfg), input_limit=lambda m: {"small": 1000, "big": 100000}.get(m)
    )


def test_eligible_request_gets_group_and_wait() -> None:
    e = engine().evaluate("Summarise this.", "summarization", "big", 2000)
    assert e.eligible and e.batch_group == "summarization:big" and e.max_wait_ms == 500


def test_tight_budget_is_not_batched() -> None:
    e = engine().evaluate("x", "faq", "big", 150)
    assert not e.eligible and "under the 200 ms threshold" in e.reason and e.batch_group is None


def test_wrong_task_type_is_not_batched() -> None:
    e = engine().evaluate("x", "code-review", "big", 5000)
    assert not e.eligible and "not batched" in e.reason


def test_group_is_task_and_model() -> None:
    eng = engine()
    assert eng.evaluate("a", "faq", "big", 5000).batch_group == "faq:big"
    assert eng.evaluate("a", "translation", "small", 5000).batch_group == "translation:small"


def test_token_limit_rejects_large_prompts() -> None:
    # small: 1000 input tokens / max_batch_size 10 = 100 tokens per request (~400 chars)
    assert engine().evaluate("y" * 300, "faq", "small", 5000).eligible
    e = engine().evaluate("y" * 1000, "faq", "small", 5000)
    assert not e.eligible and "exceeds 100" in e.reason


def test_unknown_model_limit_does_not_block() -> None:
    assert engine().evaluate("y" * 100000, "faq", "mystery", 5000).eligible


def test_wait_is_budget_minus_observed_inference() -> None:
    lat = LatencyTracker(prior_ms=100)
    eng = BatchEngine(BatchConfig(max_wait_ms=5000), latencies=lat)
    assert eng.evaluate("x", "faq", "m", 1000).max_wait_ms == 900
    for _ in range(50):
        lat.observe("faq:m", 600)
    assert 390 <= eng.evaluate("x", "faq", "m", 1000).max_wait_ms <= 410


def test_wait_is_capped_by_config() -> None:
    assert engine(max_wait_ms=300).evaluate("x", "faq", "big", 60000).max_wait_ms == 300


def test_no_time_left_is_not_batched() -> None:
    lat = LatencyTracker(prior_ms=900)
    e = BatchEngine(BatchConfig(), latencies=lat).evaluate("x", "faq", "m", 800)
    assert not e.eligible and "no time to wait" in e.reason


def test_latency_tracker_follows_observations() -> None:
    lat = LatencyTracker(prior_ms=100, alpha=0.5)
    lat.observe("g", 300)
    assert lat.estimate("g") == 300
    lat.observe("g", 100)
    assert lat.estimate("g") == 200 and lat.estimate("other") == 100


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="min_batch_size cannot exceed"):
        BatchConfig(min_batch_size=5, max_batch_size=2)
    with pytest.raises(ValidationError, match="must be >= 1"):
        BatchConfig(max_wait_ms=0)


def test_input_limit_from_provider_yaml(batch_router_files) -> None:  # type: ignore[no-untyped-def]
    from batch_router_core import BatchProviderRegistry
    from batch_router_core.online.engine import input_limit_from_registry

    reg = BatchProviderRegistry(
        files=batch_router_files,
        overrides={"fake": {"limits": {"model_input_tokens": {"fake-small*": 500}}}},
    )
    lookup = input_limit_from_registry(reg)
    assert lookup("fake-small-1") == 500 and lookup("fake-other") is None


# -- queue ----------------------------------------------------------------------------------------


def req(i: int, group: str = "g", wait_ms: float = 500) -> QueuedRequest:
    return QueuedRequest.create(f"r{i}", f"prompt {i}", "m", group, wait_ms)


def test_enqueue_and_size() -> None:
    q = RequestQueue()
    for i in range(3):
        q.enqueue(req(i))
    q.enqueue(req(9, "h"))
    assert q.size() == 4 and q.size("g") == 3 and q.size("h") == 1 and q.size("none") == 0


def test_get_batch_respects_max_size_and_order() -> None:
    q = RequestQueue()
    for i in range(5):
        q.enqueue(req(i))
    assert [r.request_id for r in q.get_batch("g", 3)] == ["r0", "r1", "r2"]
    assert [r.request_id for r in q.get_batch("g", 3)] == ["r3", "r4"]
    assert q.get_batch("g", 3) == [] and q.size() == 0


def test_expired_group_detection() -> None:
    q = RequestQueue()
    q.enqueue(req(1, "slow", 10_000))
    q.enqueue(req(2, "fast", 1))
    assert q.get_expired_groups(time.monotonic() + 0.01) == ["fast"]
    assert sorted(q.get_expired_groups(time.monotonic() + 20)) == ["fast", "slow"]


def test_remove_by_id() -> None:
    q = RequestQueue()
    q.enqueue(req(1))
    q.enqueue(req(2))
    assert q.remove("r1") and not q.remove("r1") and q.size("g") == 1
    assert q.remove("r2") and q.size() == 0 and q.snapshot() == []


def test_duplicate_ids_are_refused() -> None:
    q = RequestQueue()
    q.enqueue(req(1))
    with pytest.raises(ValueError, match="already queued"):
        q.enqueue(req(1))


def test_expiry_index_follows_removals() -> None:
    q = RequestQueue()
    q.enqueue(req(1, "g", 1))
    q.enqueue(req(2, "g", 60_000))
    q.get_batch("g", 1)
    assert q.get_expired_groups(time.monotonic() + 1) == []


def test_concurrent_access_from_many_threads() -> None:
    q = RequestQueue()
    taken: list[str] = []
    lock = threading.Lock()

    def producer(t: int) -> None:
        for i in range(500):
            q.enqueue(QueuedRequest.create(f"t{t}-{i}", "p", "m", f"g{i % 3}", 500))

    def consumer() -> None:
        for _ in range(400):
            for g in ("g0", "g1", "g2"):
                got = q.get_batch(g, 7)
                with lock:
                    taken.extend(r.request_id for r in got)

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(8)]
    threads += [threading.Thread(target=consumer) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rest = [r.request_id for r in q.drain()]
    everything = taken + rest
    assert len(everything) == 4000 and len(set(everything)) == 4000  # none lost, none twice


async def test_usable_from_async_code() -> None:
    q = RequestQueue()
    r = req(1)
    q.enqueue(r)
    [got] = q.get_batch("g", 5)
    got.future.set_result("done")
    assert await asyncio.wrap_future(r.future) == "done"


# -- scheduler ------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, fail_group: bool = False, bad: set[str] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_group = fail_group
        self.bad = bad or set()
        self.lock = threading.Lock()

    def group(self, batch: Sequence[QueuedRequest]) -> list[Any]:
        with self.lock:
            self.calls.append([r.request_id for r in batch])
        if self.fail_group and len(batch) > 1:
            raise RuntimeError("group call failed")
        return [
            ValueError("bad request") if r.request_id in self.bad else f"answer:{r.prompt}"
            for r in batch
        ]

    def single(self, r: QueuedRequest) -> str:
        if r.request_id in self.bad:
            raise ValueError(f"{r.request_id} is invalid")
        return f"alone:{r.prompt}"


def sched(rec: Recorder, **cfg: Any) -> BatchScheduler:
    return BatchScheduler(RequestQueue(), rec.group, BatchConfig(**cfg), individual=rec.single)


def test_flush_at_max_size() -> None:
    rec = Recorder()
    s = sched(rec, max_batch_size=3, max_wait_ms=60_000)
    for i in range(3):
        s.queue.enqueue(req(i, wait_ms=60_000))
    assert s.tick() == 1
    s.stop()
    assert rec.calls == [["r0", "r1", "r2"]]


def test_no_flush_before_rules_apply() -> None:
    s = sched(Recorder(), max_batch_size=5, max_wait_ms=60_000)
    s.queue.enqueue(req(1, wait_ms=60_000))
    assert s.tick() == 0 and s.queue.size() == 1
    s.stop(drain=False)


def test_flush_on_deadline() -> None:
    rec = Recorder()
    s = sched(rec, max_batch_size=10, max_wait_ms=1000)
    s.queue.enqueue(req(1, wait_ms=1))
    assert s.tick(now=time.monotonic() + 0.002) == 1
    s.stop()
    assert rec.calls == [["r1"]]


def test_flush_near_deadline_with_enough_requests() -> None:
    rec = Recorder()
    s = sched(rec, min_batch_size=2, max_batch_size=10, max_wait_ms=1000)
    s.queue.enqueue(req(1, wait_ms=60_000))
    s.queue.enqueue(req(2, wait_ms=60_000))
    assert s.tick(now=time.monotonic() + 0.5) == 0  # 50% of max_wait: not yet
    assert s.tick(now=time.monotonic() + 0.71) == 1  # past 70%
    s.stop()


def test_futures_resolve_with_results() -> None:
    rec = Recorder()
    s = sched(rec, max_batch_size=2)
    a, b = req(1), req(2)
    s.queue.enqueue(a)
    s.queue.enqueue(b)
    s.tick()
    assert a.future.result(5) == "answer:prompt 1" and b.future.result(5) == "answer:prompt 2"
    s.stop()


def test_group_failure_falls_back_to_individual_calls() -> None:
    rec = Recorder(fail_group=True)
    s = sched(rec, max_batch_size=3)
    reqs = [req(i) for i in range(3)]
    for r in reqs:
        s.queue.enqueue(r)
    s.tick()
    assert [r.future.result(5) for r in reqs] == [f"alone:prompt {i}" for i in range(3)]
    s.stop()
    assert s.stats()["fallbacks"] == 1 and s.stats()["individual_requests"] == 3


def test_one_bad_request_is_isolated() -> None:
    rec = Recorder(bad={"r1"})
    s = sched(rec, max_batch_size=3)
    reqs = [req(i) for i in range(3)]
    for r in reqs:
        s.queue.enqueue(r)
    s.tick()
    assert (
        reqs[0].future.result(5) == "answer:prompt 0"
        and reqs[2].future.result(5) == "answer:prompt 2"
    )
    with pytest.raises(ValueError, match="r1 is invalid"):
        reqs[1].future.result(5)
    s.stop()
    assert s.stats()["isolated_retries"] == 1


def test_start_stop_lifecycle_and_drain() -> None:
    rec = Recorder()
    s = sched(rec, max_batch_size=10, max_wait_ms=60_000, min_batch_size=5)
    s.start()
    s.start()  # idempotent
    assert s.running
    r = req(1, wait_ms=60_000)
    s.queue.enqueue(r)
    s.stop(drain=True)
    assert not s.running and r.future.result(5) == "answer:prompt 1"


def test_background_loop_meets_deadlines() -> None:
    rec = Recorder()
    s = sched(rec, max_batch_size=50, max_wait_ms=100, tick_ms=2)
    s.start()
    reqs = [QueuedRequest.create(f"r{i}", "p", "m", "g", 30) for i in range(20)]
    for r in reqs:
        s.queue.enqueue(r)
    assert all(r.future.result(5) for r in reqs)
    s.stop()
    st = s.stats()
    assert st["deadline_misses"] == 0 and st["wait_ms_max"] <= 30 + 2 * 2 + 5


def test_crashed_iteration_restarts_and_drains_individually() -> None:
    rec = Recorder()
    s = sched(rec, max_batch_size=50, max_wait_ms=60_000, tick_ms=2)
    reqs = [req(i, wait_ms=60_000) for i in range(4)]
    for r in reqs:
        s.queue.enqueue(r)
    s.crash_next = RuntimeError("scheduler bug")
    s.start()
    assert [r.future.result(5) for r in reqs] == [f"alone:prompt {i}" for i in range(4)]
    late = req(9, wait_ms=5)
    s.queue.enqueue(late)
    assert late.future.result(5) == "answer:prompt 9"  # the loop went on after the crash
    s.stop()
    assert s.stats()["restarts"] == 1


def test_stats_report_sizes_costs_and_savings() -> None:
    rec = Recorder()
    s = sched(rec, max_batch_size=4)
    for i in range(8):
        s.queue.enqueue(req(i))
    s.tick()
    s.stop()
    st = s.stats()
    assert st["batches"] == 2 and st["avg_batch_size"] == 4 and st["tokens"] > 0
    assert st["savings_ratio"] > 0.3  # seed 004's acceptance: > 30% cheaper per batched request


def test_large_groups_flush_in_several_batches() -> None:
    rec = Recorder()
    s = sched(rec, max_batch_size=3)
    for i in range(7):
        s.queue.enqueue(req(i))
    s.flush_group("g")
    s.stop()
    assert sorted(len(c) for c in rec.calls) == [1, 3, 3]


def test_a_group_that_made_n_calls_is_costed_as_n_calls() -> None:
    rec = Recorder()
    s = BatchScheduler(
        RequestQueue(),
        rec.group,
        BatchConfig(max_batch_size=4),
        individual=rec.single,
        calls_of=len,  # e.g. chat: one call per request, however they are grouped
    )
    for i in range(8):
        s.queue.enqueue(req(i))
    s.tick()
    s.stop()
    st = s.stats()
    assert st["batches"] == 2 and st["calls"] == 8
    assert st["cost"] == pytest.approx(st["cost_if_individual"]) and st["savings"] == 0


def test_a_failed_groups_fallbacks_run_in_parallel_and_count_late_answers() -> None:
    running, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def single(r: QueuedRequest) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(5)  # held until all four are running at once (or 5 s pass)
        with lock:
            running -= 1
        return f"alone:{r.prompt}"

    def group(batch: Sequence[QueuedRequest]) -> list[Any]:
        raise RuntimeError("group call failed")

    s = BatchScheduler(RequestQueue(), group, BatchConfig(max_batch_size=4), individual=single)
    reqs = [req(i, wait_ms=50) for i in range(4)]
    for r in reqs:
        s.queue.enqueue(r)
    s.tick()
    deadline = time.monotonic() + 5
    while most < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # past every request's 50 ms budget before they answer
    release.set()
    assert [r.future.result(5) for r in reqs] == [f"alone:prompt {i}" for i in range(4)]
    s.stop()
    assert most == 4  # each fallback ran beside the others, not one after another
    assert s.stats()["deadline_misses"] == 4  # answered after their deadlines: counted


def test_the_size_rule_is_on_by_default_from_the_providers_declared_windows() -> None:
    from batch_router_core.online import OnlineBatcher

    batcher = OnlineBatcher(config=BatchConfig(max_batch_size=16))
    engine = batcher.engine
    # gpt-4o's 128,000-token window over 16 requests: 8,000 tokens a request at most.
    big = engine.evaluate("word " * 40_000, "faq", "gpt-4o-mini", 2000)
    assert not big.eligible and "128000 input tokens" in big.reason
    assert engine.evaluate("a short question", "faq", "gpt-4o-mini", 2000).eligible
    # Each provider's patterns: OpenAI's embedding window, not a same-named Gemini entry.
    assert engine.input_limit("text-embedding-3-small") == 8191
    assert engine.input_limit("claude-sonnet-4-5") == 200_000
    assert engine.input_limit("some-local-model") is None  # undeclared: size is no reason
