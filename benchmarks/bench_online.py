"""Online micro-batching: enqueue latency, scheduler iteration time at 10,000 queued requests,
throughput and deadline misses in a 10,000-request mixed run, then calls and cost of chat and
embedding groups through the OpenAI SDK and its emulator, counted honestly.

The first three use in-process stand-in executions (a few microseconds of work per call, plus a
fixed per-call delay) so that the figures are the batching machinery's own, not a provider's. Run:

    python benchmarks/bench_online.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine  # noqa: E402

from batch_router_core.online import (  # noqa: E402
    BatchConfig,
    BatchEngine,
    BatchScheduler,
    QueuedRequest,
    RequestQueue,
)


def group_call(batch: Sequence[QueuedRequest]) -> list[Any]:
    time.sleep(0.002)  # one API round trip for the whole group
    return [f"ok:{r.request_id}" for r in batch]


def single_call(r: QueuedRequest) -> Any:
    time.sleep(0.002)
    return f"ok:{r.request_id}"


def main() -> None:
    print(f"# online micro-batching - {machine()}")
    cfg = BatchConfig(max_batch_size=10, max_wait_ms=500, tick_ms=5)
    engine = BatchEngine(cfg)

    # Enqueue latency (engine decision + enqueue), 20,000 requests over 20 groups.
    q = RequestQueue()
    lat = []
    for i in range(20_000):
        t0 = time.perf_counter()
        d = engine.evaluate(f"prompt {i}", "faq", f"m{i % 20}", 2000)
        q.enqueue(
            QueuedRequest.create(
                f"r{i}", f"prompt {i}", f"m{i % 20}", d.batch_group or "x", d.max_wait_ms
            )
        )
        lat.append((time.perf_counter() - t0) * 1e6)
    lat.sort()
    print(
        f"enqueue (evaluate + enqueue): p50 {lat[len(lat) // 2]:.1f} us, p99 "
        f"{lat[int(len(lat) * 0.99)]:.1f} us "
        f"(seed target 1 ms)"
    )

    # Scheduler iteration with 10,000 queued requests in 1,000 groups, none due (the steady state).
    q = RequestQueue()
    for i in range(10_000):
        q.enqueue(QueuedRequest.create(f"r{i}", "p", "m", f"g{i % 1000}", 60_000))
    s = BatchScheduler(
        q, group_call, BatchConfig(max_batch_size=50, max_wait_ms=60_000), individual=single_call
    )
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        s.tick()
        times.append((time.perf_counter() - t0) * 1000)
    s.stop(drain=False)
    print(
        f"scheduler iteration at 10,000 queued (1,000 groups): median "
        f"{statistics.median(times):.2f} ms, "
        f"max {max(times):.2f} ms (seed target 5 ms)"
    )

    # Mixed run: 10,000 requests, budgets 300-3000 ms, arriving over ~2 s; deadline misses must be
    # 0.
    q = RequestQueue()
    s = BatchScheduler(q, group_call, cfg, individual=single_call, workers=16)
    s.start()
    reqs = []
    t0 = time.perf_counter()
    for i in range(10_000):
        budget = (300, 800, 3000)[i % 3]
        d = engine.evaluate(
            f"prompt {i}", ("faq", "summarization", "translation")[i % 3], f"m{i % 4}", budget
        )
        r = QueuedRequest.create(
            f"r{i}", f"prompt {i}", f"m{i % 4}", d.batch_group or "x", d.max_wait_ms
        )
        q.enqueue(r)
        reqs.append(r)
        if i % 50 == 0:
            time.sleep(0.01)
    for r in reqs:
        r.future.result(30)
    elapsed = time.perf_counter() - t0
    s.stop()
    st = s.stats()
    print(
        f"mixed run: 10,000 requests in {elapsed:.2f} s = {10_000 / elapsed:,.0f} requests/s; "
        f"deadline misses {st['deadline_misses']}; batches {st['batches']}, avg size "
        f"{st['avg_batch_size']:.1f}, "
        f"avg wait {st['avg_wait_ms']:.0f} ms, max wait {st['wait_ms_max']:.0f} ms"
    )
    print(
        f"  (calls counted as one per group here: the stand-in executor makes one call per group; "
        f"{st['calls']} calls for 10,000 requests)"
    )
    honest_costs()


def honest_costs() -> None:
    """Calls and cost as the OnlineBatcher counts them, through the OpenAI SDK against its
    emulator: chat groups make one call per request, embedding groups one call per group; both are
    priced from the price table and the usage the answers report."""
    import asyncio

    from batch_router_core import BatchProviderRegistry, InferenceParams
    from batch_router_core.emulation.server import serve_in_thread
    from batch_router_core.online import OnlineBatcher

    registry = BatchProviderRegistry()
    server = serve_in_thread(registry.get("openai").create_emulator({"speed": 100000.0}))
    options = {"openai": {"base_url": server.url + "/v1", "api_key": "sk-bench"}}
    n = 1000
    try:
        for label, model, params in (
            ("chat", "gpt-4o-mini", InferenceParams(max_output_tokens=32)),
            (
                "embeddings",
                "text-embedding-3-small",
                InferenceParams(mode="embedding", embedding_dimensions=8),
            ),
        ):
            batcher = OnlineBatcher(
                registry,
                config=BatchConfig(max_batch_size=20, max_wait_ms=300, tick_ms=5),
                provider_options=options,
            ).start()

            async def burst(batcher: OnlineBatcher, model: str, params: InferenceParams) -> None:
                await asyncio.gather(
                    *(
                        batcher.submit(
                            f"question {i}: what is the capital of country number {i}?",
                            task_type="faq",
                            provider="openai",
                            model=model,
                            latency_budget_ms=2000,
                            params=params,
                        )
                        for i in range(n)
                    )
                )

            t0 = time.perf_counter()
            asyncio.run(burst(batcher, model, params))
            elapsed = time.perf_counter() - t0
            batcher.stop()
            st = batcher.stats()
            print(
                f"{label}: {n} requests in {st['batches']} groups made {st['calls']} API calls "
                f"({elapsed:.1f} s); cost ${st['cost']:.6f} vs ${st['cost_if_individual']:.6f} "
                f"sent one by one: saving ${st['savings']:.6f} (the same tokens at the same "
                f"per-token price; grouping saves calls, not money)"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
